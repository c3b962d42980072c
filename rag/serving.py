"""What every long-running server of a store shares (`rag serve`, `rag mcp`): who may reach
it (loopback, or a client with the API key), the one error for an address it cannot listen on, and the version it reports."""

from __future__ import annotations

import errno
import hmac
import ipaddress
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
