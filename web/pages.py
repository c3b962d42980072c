"""The web pages: server-rendered shells whose small scripts call the JSON API at /api/v1.

Every page renders from the API on the client, so a page shows exactly what an API caller
gets and there is one code path for documents, answers and the graph. The server adds only
what a script cannot ask the API for: the interface strings in the reader's language and the
choice lists and limits the forms offer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ingest.loaders import SUPPORTED_EXTENSIONS
from rag.choices import RETRIEVAL_METHODS
from rag.modes.base import MAX_K
from rag.modes.registry import DEFAULT_GRAPH_STRATEGY, MODES
from rag.prompting import CITATION
from web.i18n import LANGUAGES, language, strings, translate

bp = Blueprint("pages", __name__)

API_PREFIX = "/api/v1"
LANG_COOKIE_DAYS = 365
# The one citation regex (the answer parser's); the page script compiles the same pattern, so
# a marker in the streamed text is exactly what the server counts as cited.
CITATION_PATTERN = CITATION.pattern


@bp.app_context_processor
def _interface() -> dict[str, Any]:
    """`t(key)` and the reader's language for every template, the pages' and the login's."""
    lang = language(request)

    def t(key: str, **values: Any) -> str:
        return translate(key, lang, **values)

    other = "zh" if lang == "en" else "en"
    args = {**request.args.to_dict(), "lang": other}
    return {"t": t, "lang": lang, "other_lang": other,
            "lang_switch_url": request.path + "?" + urlencode(args)}  # fmt: skip


@bp.after_request
def _remember_language(response: Response) -> Response:
    """`?lang=` on a page sets the cookie, so the choice holds on the next page."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        response.set_cookie(
            "lang", asked, max_age=LANG_COOKIE_DAYS * 86400, samesite="Lax", httponly=True
        )
    return response


def _settings_view() -> dict[str, Any]:
    """The defaults and limits of the store this request works on, for forms and uploads."""
    from web.workspace import current

    s = current().engine.settings
    return {
        "top_k": s.top_k,
        "retrieval": s.retrieval,
        "max_file_mb": s.max_file_mb,
        "max_upload_mb": s.max_upload_mb,
    }


def _page(template: str, page: str, **extra: Any) -> str:
    """Render one page with the JSON its script reads (`#page-config`, `#i18n`)."""
    lang = language(request)
    config = {
        "page": page,
        "lang": lang,
        "root": request.script_root,
        "api": request.script_root + API_PREFIX,
        "modes": [
            {
                "name": m.name,
                "title": m.title,
                "help": m.help,
                "strategies": list(m.strategies),
                "default_strategy": m.default_strategy,
            }
            for m in MODES.values()
        ],
        "default_strategy": DEFAULT_GRAPH_STRATEGY,
        "methods": list(RETRIEVAL_METHODS),
        "extensions": sorted(SUPPORTED_EXTENSIONS),
        "citation": CITATION_PATTERN,
        "max_k": MAX_K,
        "settings": _settings_view(),
        **extra,
    }
    # not "config": Flask gives every template its app config under that name
    return render_template(
        template, page=page, page_config=config, strings=strings(lang), modes=config["modes"],
        methods=config["methods"], settings=config["settings"], max_k=MAX_K,
    )  # fmt: skip


@bp.get("/")
def index() -> BaseResponse:
    return redirect(url_for("pages.ask"))


@bp.get("/upload")
def upload() -> str:
    return _page("upload.html", "upload")


@bp.get("/documents")
def documents() -> str:
    return _page("documents.html", "documents")


@bp.get("/documents/<doc_id>")
def document(doc_id: str) -> str:
    return _page("document.html", "documents", doc_id=doc_id)


@bp.get("/ask")
def ask() -> str:
    return _page("ask.html", "ask")


@bp.get("/compare")
def compare() -> str:
    return _page("compare.html", "compare")


@bp.get("/retrieval")
def retrieval() -> str:
    return _page("retrieval.html", "retrieval")


@bp.get("/graph")
def graph() -> str:
    return _page("graph.html", "graph")


@bp.get("/login")
def login() -> str:
    """The form only; POST /login (web/auth.py) checks the key and renders this with `error`."""
    return render_template("login.html", next=request.args.get("next", ""), error=None)
