"""Errors of the HTTP edge, and the one place every error becomes `{"error": {code, message}}`.

The engine's typed errors (ingest.errors, rag.generation.base) carry their own code and status;
the classes here add what only a web request can get wrong. Anything else is a bug: logged
with its traceback, answered as a 500 `internal_error` without details. Under the
OpenAI-compatible `/v1/` the same errors take OpenAI's shape, `{"error": {message, type, code,
param}}`, which its clients turn into their own exception classes.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from ingest.errors import RagError, UsageError

log = logging.getLogger(__name__)


# the body is not JSON, or a field is missing or of the wrong type: the engine's own 400
BadRequest = UsageError


class Unauthorized(RagError):
    code = "unauthorized"
    http_status = 401


class CrossSite(RagError):
    """A write sent by another site's page (a form or script on a page the user visited)."""

    code = "cross_site"
    http_status = 403


class NotFound(RagError):
    code = "not_found"
    http_status = 404


class JobNotFound(NotFound):
    code = "job_not_found"


class Conflict(RagError):
    code = "conflict"
    http_status = 409


class QueueFull(Conflict):
    code = "queue_full"


class NothingToRetry(Conflict):
    code = "nothing_to_retry"


class InvalidValue(RagError):
    """Valid JSON whose values the engine cannot take (an unknown mode, k = 0)."""

    code = "invalid_value"
    http_status = 422


class ModelNotFound(NotFound):
    """An OpenAI-compatible request names a model id the server does not list."""

    code = "model_not_found"
    param = "model"


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


OPENAI_PREFIX = "/v1/"
# OpenAI's error `type` by status; its clients pick their exception class by the status alone
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                 409: "conflict_error"}  # fmt: skip


def openai_error_body(
    status: int, code: str, message: str, param: str | None = None
) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else _OPENAI_TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def _wants_json() -> bool:
    api = request.path.startswith(("/api/", OPENAI_PREFIX))
    return api or request.accept_mimetypes.best == "application/json"


def _respond(
    status: int, code: str, message: str, param: str | None = None
) -> Response | tuple[str, int]:
    if _wants_json():
        if request.path.startswith(OPENAI_PREFIX):
            resp = jsonify(openai_error_body(status, code, message, param))
        else:
            resp = jsonify(error_body(code, message))
        resp.status_code = status
        return resp
    page = (
        f"<!doctype html><meta charset=utf-8><title>{status}</title>"
        f"<body style='font-family:sans-serif;margin:3em'><h1>{status}</h1><p>{escape(message)}</p>"
        "<p><a href='/'>Home</a></p>"
    )
    return page, status


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "file_too_large", 415: "unsupported_format"}  # fmt: skip


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RagError)
    def _rag_error(e: RagError) -> Any:
        if e.http_status >= 500:
            log.warning("%s: %s", e.code, e)
        resp = make_response(_respond(e.http_status, e.code, str(e), getattr(e, "param", None)))
        if e.http_status == 401:  # RFC 9110: a 401 names the scheme that would be accepted
            resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Any:
        status = e.code or 500
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            message = f"the upload is larger than the server's limit of {limit / 2**20:g} MB"
        else:
            message = e.description or e.name
        return _respond(status, _HTTP_CODES.get(status, e.name.lower().replace(" ", "_")), message)

    @app.errorhandler(Exception)
    def _internal(e: Exception) -> Any:
        log.exception("internal error on %s %s", request.method, request.path)
        return _respond(500, "internal_error", "internal error; the server log has the details")
