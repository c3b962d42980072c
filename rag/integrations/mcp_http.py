"""`rag mcp --http PORT`: the MCP server over streamable HTTP (the SDK's Starlette app under
uvicorn), at http://HOST:PORT/mcp.

With RAG_API_KEY set, every request must carry `Authorization: Bearer <key>`. The SDK's own
auth hook is OAuth's (a token verifier tied to an authorization server's issuer URL); a shared
key has no issuer, so a small ASGI middleware checks it instead. Bound to 127.0.0.1, localhost
or ::1, the SDK refuses requests whose Host or Origin is not a loopback name (no DNS
rebinding).
"""

from __future__ import annotations

import hmac
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.serving import cannot_listen

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from rag.settings import Settings

log = logging.getLogger(__name__)

PATH = "/mcp"


class RequireKey:
    """Refuse (401) an HTTP request without `Authorization: Bearer <key>`."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key.encode()

    def _authorised(self, scope: Scope) -> bool:
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(self._key, given.strip().encode())

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
