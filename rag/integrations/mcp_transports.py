"""`rag mcp`'s transports: stdio (the default: a desktop client starts the process and talks on
its stdin and stdout) and streamable HTTP (`--http PORT`: the SDK's Starlette app under uvicorn,
at http://HOST:PORT/mcp), the background warm-up, and how each stops.

With RAG_API_KEY set, every HTTP request must carry `Authorization: Bearer <key>`. The SDK's
own auth hook is OAuth's (a token verifier tied to an authorization server's issuer URL); a
shared key has no issuer, so a small ASGI middleware checks it instead. Bound to 127.0.0.1,
localhost or ::1, the SDK refuses requests whose Host or Origin is not a loopback name (no DNS
rebinding).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.engine import Engine
from rag.integrations.mcp_server import build_server
from rag.serving import WarmUp, bearer_token, cannot_listen, check_exposure, key_matches

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from rag.settings import Settings

log = logging.getLogger(__name__)

PATH = "/mcp"


class RequireKey:
    """Refuse (401) an HTTP request without `Authorization: Bearer <key>`."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key

    def _authorised(self, scope: Scope) -> bool:
        header = Headers(scope=scope).get("authorization", "")
        return key_matches(self._key, bearer_token(header))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorised(scope):
            body = {"error": {"code": "unauthorized",
                              "message": "send Authorization: Bearer <RAG_API_KEY>"}}  # fmt: skip
            headers = {"WWW-Authenticate": 'Bearer realm="rag"'}
            await JSONResponse(body, status_code=401, headers=headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a port in use is one clear line (and port 0 a free
    port whose number the ready line then shows)."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bare, port))
    except OSError as e:
        sock.close()
        raise cannot_listen(host, port, e, "--http") from None
    sock.listen(128)
    return sock


def serve_http(
    server: MCPServer,
    settings: Settings,
    sock: socket.socket,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve on the bound `sock` until Ctrl-C or SIGTERM (uvicorn shuts down gracefully, then
    raises the signal again for the caller)."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    app: ASGIApp = server.streamable_http_app(streamable_http_path=PATH, host=host)
    if settings.api_key:
        app = RequireKey(app, settings.api_key)
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="on",
        timeout_graceful_shutdown=5,
    )  # fmt: skip
    if on_ready:
        where = f"[{host}]" if ":" in host else host
        on_ready(f"http://{where}:{port}{PATH}")
    uvicorn.Server(config).run(sockets=[sock])


# --- running it -------------------------------------------------------------------------------


def warm_up(engine: Engine) -> WarmUp:
    """Load the embedder, the indexes (a first retrieval) and the generator in the background,
    so the first call does not wait for them; what is missing is logged, and reported again
    by the call that needs it."""
    return WarmUp(
        [
            ("embedder", lambda: engine.embedder),
            ("indexes", lambda: engine.retrieve("warm-up 预热", k=1)),
            ("generator", lambda: engine.generator),
        ],
        log,
    ).start()


def run(
    settings: Settings,
    http_port: int | None = None,
    host: str = "127.0.0.1",
    *,
    insecure: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the store over stdio (the default: a desktop client starts the process and talks
    on its stdin/stdout), or over streamable HTTP on `host:http_port` (path /mcp). Returns
    when the client closes stdin, or (HTTP) on Ctrl-C or SIGTERM; over stdio those end the
    process (see `_exit_on_signal`). `on_ready` gets where it serves."""
    sock = None
    if http_port is not None:  # refuse, or fail to bind, before anything is opened or loaded
        check_exposure(host, settings, insecure)
        sock = bind(host, http_port)
    engine = Engine(settings)
    warming: WarmUp | None = None
    try:
        server = build_server(engine)
        warming = warm_up(engine)
        if sock is None:
            _exit_on_signal()
            if on_ready:
                on_ready("stdio")
            # the SDK's stdio transport moves fd 1 aside for the protocol and points it at
            # stderr, so a stray print (ours or a library's) cannot corrupt the stream
            anyio.run(server.run_stdio_async)
        else:
            _stop_on_sigterm()
            serve_http(server, settings, sock, on_ready)
    except KeyboardInterrupt:
        pass
    finally:
        if warming is not None:  # the engine is not closed under a step still loading
            warming.stop()
        if sock is not None:
            sock.close()
        engine.close()


def _exit_on_signal() -> None:
    """Over stdio, Ctrl-C and SIGTERM end the process at once, exit status 0. The SDK reads
    stdin on a worker thread blocked in a read nothing can interrupt, and the interpreter would
    wait for that thread at exit until the client closed the pipe. Nothing is lost: the server
    only reads the store (SQLite keeps no state a reader must write back)."""

    def _exit(signum: int, frame: object) -> None:
        sys.stderr.flush()
        os._exit(0)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit)


def _stop_on_sigterm() -> None:
    """SIGTERM (`kill`, `docker stop`) ends the HTTP server as Ctrl-C does: uvicorn finishes
    gracefully and raises the signal again, which lands here as KeyboardInterrupt."""

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
