"""The REST API, /api/v1: the same Engine calls as the pages and the CLI, as JSON.

Every route reaches the store through `current()` (web/workspace.py). Errors are raised as the
engine's typed errors or web/errors.py's and turned into `{"error": {code, message}}` in one
place (web/errors.register_error_handlers). web/openapi.py documents each route; a test holds
the two to each other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Unpack

from flask import Blueprint, Response, jsonify, request, stream_with_context

from ingest.errors import ConfigError, EntityNotFound, RagError, StoreNotFound
from ingest.types import SearchFilter
from rag.engine import Engine
from rag.filters import filter_from_json, parse_where
from rag.modes.base import MAX_K, Query, QueryOptions
from rag.serving import package_version
from rag.types import Done, Retrieved, Token
from web import shapes
from web.errors import BadRequest, InvalidValue, NotFound, error_body
from web.workspace import current

bp = Blueprint("api", __name__)

MAX_PER_PAGE = 200
QUERY_FIELDS = {"question", "mode", "strategy", "k", "method", "filters"}


# --- request parsing --------------------------------------------------------------------------


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("the body must be a JSON object (Content-Type: application/json)")
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _arg(name: str, default: str | None = None) -> str | None:
    """A query parameter the API takes once: given twice, which one counts would depend on
    who reads it (a proxy may take the last), so it is a 400, not a guess."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"{name} is given {len(values)} times; give it once")
    return values[0] if values else default


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = _arg(name)
    if raw is None or raw == "":
        return default
    value = _whole(raw)
    if value is None:
        raise BadRequest(f"{name}={raw!r} is not a whole number")
    if not lo <= value <= hi:
        raise InvalidValue(f"{name}={value} must be between {lo} and {hi}")
    return value


def _whole(raw: str) -> int | None:
    """`5`, and `5.0` too (JSON Schema's integer, as the OpenAPI document says)."""
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


_KIND_NAMES: dict[type, str] = {str: "a string", int: "a whole number", dict: "an object"}


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)  # JSON Schema's integer: 5.0 is one, as the OpenAPI document says
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise BadRequest(f"{name} must be {_KIND_NAMES.get(kind, kind.__name__)}")
    return value


def _filters(body: dict[str, Any]) -> SearchFilter | None:
    return filter_from_json(_optional(body, "filters", dict))


def _query(body: dict[str, Any], extra: set[str] = frozenset()) -> Query:  # type: ignore[assignment]
    unknown = set(body) - QUERY_FIELDS - extra
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r}")
    question = body.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("question is required: a non-empty string")
    return checked_query(
        current().engine, question.strip(), mode=_optional(body, "mode", str),
        strategy=_optional(body, "strategy", str), k=_optional(body, "k", int),
        method=_optional(body, "method", str), filters=_filters(body),
    )  # fmt: skip


def checked_query(engine: Engine, question: str, **options: Unpack[QueryOptions]) -> Query:
    """The engine's query for a request from outside: at most MAX_K passages, and a choice the
    engine refuses is a 422 (the JSON was fine, a value was not)."""
    k = options.get("k")
    if k is not None and k > MAX_K:
        raise InvalidValue(f"k={k} is more than {MAX_K} passages")
    for name in ("mode", "strategy", "method"):  # the engine reads "" as its default: say null
        if options.get(name) == "":
            raise InvalidValue(f"{name} is empty: name one of the choices, or send null")
    try:
        return engine.query(question, **options)
    except ConfigError as e:
        raise InvalidValue(str(e)) from None


# --- documents and jobs -----------------------------------------------------------------------


@bp.post("/documents")
def upload() -> tuple[Response, int]:
    files = request.files.getlist("file")
    if not files:
        raise BadRequest("no file: send one or more files as multipart field 'file'")
    metadata: dict[str, Any] = {}
    if raw := request.form.get("metadata"):
        try:
            metadata = json.loads(raw)
        except ValueError:
            raise BadRequest("metadata must be a JSON object") from None
        if not isinstance(metadata, dict):
            raise BadRequest("metadata must be a JSON object")
    named = [(f.filename or "", f.save) for f in files]
    job = current().stage_uploads(named, metadata)  # type: ignore[arg-type]
    return jsonify({"job": job.to_dict()}), 202


@bp.get("/documents")
def list_documents() -> Response:
    ws = current()
    page = _int_arg("page", 1, 1, 10**6)
    per_page = _int_arg("per_page", 20, 1, MAX_PER_PAGE)
    status = _arg("status") or None
    if status is not None and status not in shapes.DOCUMENT_STATUSES:
        raise InvalidValue(
            f"status={status!r}; choose one of {', '.join(shapes.DOCUMENT_STATUSES)}"
        )
    rows = shapes.document_rows(ws)
    if q := (_arg("q") or "").strip():
        rows = [r for r in rows if shapes.matches(r, q)]
    if where := request.args.getlist("where"):
        flt = SearchFilter(metadata=parse_where(where))
        rows = [r for r in rows if flt.admits_metadata(r["metadata"])]
    if status:
        rows = [r for r in rows if r["status"] == status]
    start = (page - 1) * per_page
    shown = shapes.with_counts(ws, rows[start : start + per_page])
    return jsonify({"documents": shown, "total": len(rows), "page": page, "per_page": per_page})


@bp.get("/documents/<doc_id>")
def get_document(doc_id: str) -> Response:
    ws = current()
    doc = ws.engine.document(doc_id)
    chunks = ws.engine.chunks(doc.id)
    row = shapes.document_row(ws, doc, chunks)
    entities: list[dict[str, Any]] = []
    if ws.engine.settings.graph != "off" and chunks:
        kg = ws.knowledge_graph()
        found = ws.engine.graph_store.entities_of_chunks([c.id for c in chunks])
        ids = {e for es in found.values() for e in es if e in kg.entities}
        ranked = sorted(ids, key=lambda i: (-kg.degree(i), kg.entities[i].name))
        entities = [shapes.entity_ref(kg.entities[i]) for i in ranked]
    return jsonify({"document": row, "chunks": [shapes.chunk_json(c, doc) for c in chunks],
                    "entities": entities})  # fmt: skip


@bp.delete("/documents/<doc_id>")
def delete_document(doc_id: str) -> Response:
    ws = current()
    doc = ws.engine.document(doc_id)  # an id, never a glob: a REST delete names one document
    row = shapes.document_row(ws, doc, ws.engine.chunks(doc.id))
    ws.engine.delete(doc.id)
    ws.forget(doc.source)
    return jsonify({"deleted": [row]})


@bp.post("/documents/<doc_id>/reingest")
def reingest(doc_id: str) -> tuple[Response, int]:
    job = current().reingest(doc_id)
    return jsonify({"job": job.to_dict()}), 202


@bp.get("/jobs")
def list_jobs() -> Response:
    return jsonify({"jobs": current().jobs.all()})


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    return jsonify(current().jobs.snapshot(job_id))


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> Response:
    return jsonify(current().jobs.cancel(job_id))


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> tuple[Response, int]:
    job = current().jobs.retry(job_id)
    return jsonify({"job": job.to_dict()}), 202


# --- retrieval and answers ----------------------------------------------------------------------


@bp.post("/retrieve")
def retrieve() -> Response:
    q = _query(_json_body())
    t0 = time.perf_counter()
    ctx = current().engine.context(q)
    return jsonify({
        "question": q.question, "mode": q.mode, "strategy": q.strategy, "method": q.method,
        "k": q.k, "sources": shapes.hit_sources(ctx.hits), "trace": ctx.trace,
        "timings": {"retrieve": round(time.perf_counter() - t0, 4)},
    })  # fmt: skip


@bp.post("/ask")
def ask() -> Response:
    body = _json_body()
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("stream must be true or false")
    q = _query(body, {"stream"})
    engine = current().engine
    engine.store  # noqa: B018 - no store is a 404 before a stream starts, not an error event
    if not stream:
        return jsonify(engine.ask(q).to_dict())

    def events() -> Iterator[str]:
        yield ": answering\n\n"  # headers and a first byte go out before retrieval starts
        try:
            t0 = time.perf_counter()
            ctx = engine.context(q)
            for ev in engine.stream(q, context=ctx, started=t0):
                if isinstance(ev, Retrieved):
                    sources = [shapes.source_json(s) for s in ev.sources]
                    yield _sse("sources", {"sources": sources, "trace": ctx.trace})
                elif isinstance(ev, Token):
                    yield _sse("token", {"text": ev.text})
                elif isinstance(ev, Done):
                    yield _sse("done", ev.answer.to_dict())
        except RagError as e:
            yield _sse("error", error_body(e.code, str(e)))
        except Exception:
            import logging

            logging.getLogger(__name__).exception("answer stream failed")
            yield _sse("error", error_body("internal_error", "internal error while answering"))

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(events()), mimetype="text/event-stream", headers=headers)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# --- knowledge graph ----------------------------------------------------------------------------


@bp.get("/graph/entities")
def graph_entities() -> Response:
    kg = current().knowledge_graph()
    limit = _int_arg("limit", 20, 1, 500)
    found = kg.search(_arg("q") or "", limit)
    return jsonify({"entities": [shapes.entity_summary(kg, e) for e in found]})


@bp.get("/graph/entities/<entity_id>")
def graph_entity(entity_id: str) -> Response:
    ws = current()
    kg = ws.knowledge_graph()
    e = kg.find(entity_id)
    if e is None:
        raise EntityNotFound(f"no entity {entity_id!r} in the knowledge graph")
    relations = [{**shapes.relation_json(r), "other": shapes.entity_ref(other)}
                 for r, other in kg.relations_of(e.id)]  # fmt: skip
    return jsonify({"entity": shapes.entity_summary(kg, e), "relations": relations,
                    "chunks": _chunk_sources(e.chunk_ids)})  # fmt: skip


@bp.get("/graph/relations/<relation_id>")
def graph_relation(relation_id: str) -> Response:
    kg = current().knowledge_graph()
    r = kg.relations.get(relation_id)
    if r is None:
        raise NotFound(f"no relation {relation_id!r} in the knowledge graph")
    return jsonify({
        "relation": shapes.relation_json(r), "source": shapes.entity_ref(kg.entities[r.source]),
        "target": shapes.entity_ref(kg.entities[r.target]), "chunks": _chunk_sources(r.chunk_ids),
    })  # fmt: skip


def _chunk_sources(chunk_ids: tuple[str, ...], limit: int = 20) -> list[dict[str, Any]]:
    hits = current().engine.store.chunks.hits([(c, 0.0) for c in chunk_ids[:limit]])
    return [{"chunk_id": h.chunk.id, "doc_id": h.document.id, "document": h.document.name,
             "location": h.location, "text": h.chunk.text} for h in hits]  # fmt: skip


@bp.get("/graph/subgraph")
def graph_subgraph() -> Response:
    ws = current()
    kg = ws.knowledge_graph()
    depth = _int_arg("depth", 1, 0, 3)
    limit = _int_arg("limit", 150, 1, 1000)
    seeds = [s for s in (_arg("entities") or "").split(",") if s]
    resolved = [e.id for s in seeds if (e := kg.find(s)) is not None]
    chunk_ids = [c for c in (_arg("chunks") or "").split(",") if c]
    if chunk_ids:
        found = ws.engine.graph_store.entities_of_chunks(chunk_ids)
        resolved += [e for c in chunk_ids for e in found.get(c, [])]
    if seeds and not resolved and not chunk_ids:
        raise EntityNotFound(f"no entity among {', '.join(seeds)} in the knowledge graph")
    if not seeds and not chunk_ids:
        resolved = [e.id for e in kg.search("", 10)]
    return jsonify(shapes.subgraph(kg, resolved, depth, limit))


@bp.get("/graph/communities")
def graph_communities() -> Response:
    kg = current().knowledge_graph()
    level = _arg("level")
    comms = kg.communities
    if level not in (None, ""):
        lv = _int_arg("level", 0, 0, 100)
        comms = [c for c in comms if c.level == lv]
    return jsonify({"communities": [{
        "id": c.id, "level": c.level, "title": c.title, "summary": c.summary,
        "size": len(c.entity_ids), "entity_ids": list(c.entity_ids), "parent": c.parent,
    } for c in comms]})  # fmt: skip


# --- health ------------------------------------------------------------------------------------


@bp.get("/health")
def health() -> tuple[Response, int]:
    engine = current().engine
    models = engine.readiness()
    try:
        counts = engine.counts()
        store = {"path": str(engine.settings.store_dir), "exists": True,
                 "documents": counts.documents, "chunks": counts.chunks}  # fmt: skip
    except StoreNotFound:
        store = {"path": str(engine.settings.store_dir), "exists": False,
                 "documents": 0, "chunks": 0}  # fmt: skip
    ok = all(m["installed"] for m in models.values())
    body = {"status": "ok" if ok else "degraded", "version": package_version(),
            "store": store, "models": models}  # fmt: skip
    return jsonify(body), 200 if ok else 503
