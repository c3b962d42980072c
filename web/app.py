"""The Flask app factory: `create_app(settings)` wires the API, the pages, auth and errors.

The app holds one Engine per store (web/workspace.py) for its whole life: models load once,
on first use, and every request thread shares them. `rag serve` runs it under waitress.
"""

from __future__ import annotations

from flask import Flask

from rag.engine import Engine
from rag.settings import Settings
from web import api, auth, openai_api, openapi, pages
from web.errors import register_error_handlers
from web.workspace import Workspace, Workspaces


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Flask:
    """The web app over `settings`' store; `engine` injects one (tests, fakes)."""
    if engine is None:
        engine = Engine(settings if settings is not None else Settings.from_env())
    settings = engine.settings
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=int(settings.max_upload_mb * 2**20),
        RAG_API_KEY=settings.api_key,
        JSON_AS_ASCII=False,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["rag"] = Workspaces(Workspace(engine))
    register_error_handlers(app)
    auth.install(app, settings.api_key)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(openai_api.bp, url_prefix="/v1")
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    return app
