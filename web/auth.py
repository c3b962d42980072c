"""The API key: when Settings.api_key (RAG_API_KEY) is set, every request but the health check,
the login page and static files must carry it, as `Authorization: Bearer <key>`, or come from
a browser that logged in: the login page sets the `rag_session` cookie (HttpOnly,
SameSite=Strict) to a token derived from the key, never the key itself, so a leaked cookie
does not give the key away, and changing the key ends every login."""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from rag.serving import bearer_token, key_matches
from web.errors import OPENAI_PREFIX, CrossSite, Unauthorized

COOKIE = "rag_session"
OPEN_PATHS = ("/api/v1/health", "/login")  # exactly these, and everything under /static/

bp = Blueprint("auth", __name__)


def session_token(api_key: str) -> str:
    """What the login cookie holds: a keyed hash of the key."""
    return hmac.new(api_key.encode(), b"rag-kg login session", hashlib.sha256).hexdigest()


def authorised(api_key: str) -> bool:
    """The request carries the key (a client) or a login made with it (a browser)."""
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is not None:
        return key_matches(api_key, token)
    return key_matches(session_token(api_key), request.cookies.get(COOKIE))


_LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*")


def safe_next(target: str | None) -> str:
    """Only a path on this server: no scheme, no host, no `//evil.example`, and no control
    character or space a browser would drop to make one (`/\t/evil.example`)."""
    if not target or not _LOCAL_PATH.fullmatch(target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def same_site_write() -> bool:
    """Writes must come from this server's pages or from a non-browser client. A browser says
    where a request comes from (Sec-Fetch-Site, Origin); a form on another site posting to
    127.0.0.1 is refused, key or no key (the cookie of a login would ride along)."""
    if request.method not in UNSAFE_METHODS:
        return True
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # curl, scripts, SDKs: no browser, no ambient credentials to abuse
    return urlsplit(origin).netloc == request.host


def install(app: Flask, api_key: str | None) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _refuse_cross_site() -> None:
        if not same_site_write():
            raise CrossSite("a write from another site's page is refused")

    if not api_key:
        return

    @app.before_request
    def _require_key() -> BaseResponse | None:
        open_path = request.path in OPEN_PATHS or request.path.startswith("/static/")
        if open_path or authorised(api_key):
            return None
        # the REST and the OpenAI-compatible APIs answer 401; /api/docs is a page: it logs in
        if request.path.startswith(("/api/v1/", OPENAI_PREFIX)):
            raise Unauthorized("this server needs an API key: send Authorization: Bearer <key>")
        return redirect("/login?next=" + quote(request.full_path.rstrip("?")))


@bp.post("/login")
def login() -> BaseResponse | tuple[str, int]:
    from flask import current_app

    expected = current_app.config.get("RAG_API_KEY")
    target = safe_next(request.form.get("next"))
    if not expected:
        return redirect(target)
    given = request.form.get("key", "").strip()
    if not key_matches(expected, given):
        return render_template("login.html", error=True, next=target), 401
    resp: Response = redirect(target)  # type: ignore[assignment]
    resp.set_cookie(COOKIE, session_token(given), httponly=True, samesite="Strict", max_age=30 * 86400,
                    secure=request.is_secure)  # fmt: skip
    return resp
