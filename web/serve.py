"""`rag serve`: the web app under waitress, a production WSGI server (never Flask's own)."""

from __future__ import annotations

import logging
import sys
import threading

from ingest.errors import UsageError
from rag.serving import WarmUp, cannot_listen, check_exposure, is_loopback
from rag.settings import Settings

log = logging.getLogger(__name__)


LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


def serve(settings: Settings, host: str, port: int, threads: int, insecure: bool) -> None:
    import waitress

    from web.app import create_app

    check_exposure(host, settings, insecure)
    if threads < 1:
        raise UsageError(f"--workers must be at least 1, not {threads}")
    app = create_app(settings)
    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads, ident="rag",
                                        channel_timeout=300, clear_untrusted_proxy_headers=True)  # fmt: skip
    except OSError as e:
        app.extensions["rag"].close()
        raise cannot_listen(host, port, e) from None
    if is_loopback(host):  # a page on another domain that resolves to 127.0.0.1 is refused
        app.config["TRUSTED_HOSTS"] = LOOPBACK_NAMES
    # the models load while the first page renders, so the first question does not wait for
    # them; one that is missing is reported by /api/v1/health and by the request that needs it
    engine = app.extensions["rag"].default.engine
    warming = WarmUp(
        [("embedder", lambda: engine.embedder), ("generator", lambda: engine.generator)], log
    ).start()
    where = f"[{host}]" if ":" in host else host
    print(f"rag: serving {settings.store_dir} on http://{where}:{server.effective_port}  (Ctrl-C stops)",
          file=sys.stderr, flush=True)  # fmt: skip
    if not is_loopback(host) and not settings.api_key:
        print("rag: WARNING: no API key; anyone who reaches this port has full access",
              file=sys.stderr, flush=True)  # fmt: skip
    _stop_on_sigterm()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        warming.stop()  # the stores are not closed under a model still loading
        app.extensions["rag"].close()


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, `docker stop`, `kill`) stops the server as Ctrl-C does: waitress ends,
    running jobs are cancelled, the stores close."""
    import signal

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
