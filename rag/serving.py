"""What every long-running server of a store shares (`rag serve`, `rag mcp`): who may reach
it (loopback, or a client with the API key), the one error for an address it cannot listen on, and the version it reports."""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from ingest.errors import RagError, UsageError
from rag.settings import Settings


class ServeError(RagError):
    """The server cannot start: the address is taken or cannot be bound."""

    code = "cannot_serve"
    http_status = 500


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(host: str, settings: Settings, insecure: bool) -> None:
    """Refuse to answer the network without a key: anyone who reaches the port could read
    every document (and, through the web app, delete the store)."""
    if is_loopback(host) or settings.api_key or insecure:
        return
    raise UsageError(
        f"refusing to serve on {host} without an API key: anyone who can reach it could read "
        "and delete your documents. Set RAG_API_KEY, or pass --insecure if you mean it"
    )


def bearer_token(authorization: str) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None for another scheme."""
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def key_matches(expected: str, given: str | None) -> bool:
    """In constant time, so the comparison does not tell how much of a guess was right."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def cannot_listen(host: str, port: int, error: OSError, flag: str = "--port") -> ServeError:
    """The one line for a bind that failed; a port in use says which flag picks another."""
    where = f"[{host}]" if ":" in host else host
    in_use = error.errno == errno.EADDRINUSE
    hint = f" (another server is there: pick another {flag})" if in_use else ""
    return ServeError(f"cannot listen on {where}:{port}: {error.strerror}{hint}")


def package_version() -> str:
    """The installed package's version (health, OpenAPI, the MCP handshake)."""
    try:
        return version("rag-kg")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class WarmUp:
    """Loads what the first request would otherwise wait for (models, indexes) on a background
    thread, one step at a time. `stop()` asks it to skip the steps not yet begun and waits for
    the running one: closing the engine, or the interpreter exiting, under a thread still inside
    FAISS, SQLite or llama.cpp crashes the process (a segfault on a client's end of input)."""

    def __init__(self, steps: list[tuple[str, Callable[[], object]]], log: logging.Logger) -> None:
        self._steps = steps
        self._log = log
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="warm-up", daemon=True)

    def start(self) -> WarmUp:
        self._thread.start()
        return self

    def stop(self, timeout: float = 120.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        for name, step in self._steps:
            if self._stopping.is_set():
                return
            t0 = time.perf_counter()
            try:
                step()
            except RagError as e:
                self._log.warning("not loaded: %s: %s", name, e)
            except Exception:
                if self._stopping.is_set():  # closed under this step: nothing left to load
                    return
                self._log.exception("warm-up step %s failed", name)
            else:
                self._log.info("loaded %s in %.1f s", name, time.perf_counter() - t0)
