"""The OpenAPI 3.1 document of the REST API, at /api/v1/openapi.json, and Swagger UI at /api/docs.

The paths, methods and path parameters come from the app's own URL map, so a route cannot be
documented under a path it does not have; what each route takes and answers is written here,
once per view function, and tests/web/test_openapi.py holds every response of every route to
it. Choice lists (modes, strategies, methods, stages, states, statuses) are read from the
modules that define them, and the error codes of each status from the error classes a route
can raise, so neither is typed twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template
from werkzeug.routing import Rule

from ingest.errors import (
    DocumentNotFound,
    EmbedderMismatch,
    EntityNotFound,
    FileTooLarge,
    MissingDependency,
    ModelNotInstalled,
    RagError,
    StoreError,
    StoreLocked,
    StoreNotFound,
    UnsupportedFormat,
)
from ingest.loaders import SUPPORTED_EXTENSIONS
from rag.choices import GRAPH_STRATEGIES, MODE_NAMES, RETRIEVAL_METHODS
from rag.choices import values as choices
from rag.filters import FILTER_SCHEMA, METADATA_SCHEMA, SPACE_CLASS
from rag.generation.base import GenerationError
from rag.modes.base import MAX_K
from rag.serving import package_version
from web import api, auth, openai_api, openai_shapes, shapes
from web.errors import (
    OPENAI_PREFIX,
    BadRequest,
    CrossSite,
    InvalidValue,
    JobNotFound,
    ModelNotFound,
    NotFound,
    NothingToRetry,
    QueueFull,
    Unauthorized,
)
from web.jobs import FileStage, JobState

bp = Blueprint("openapi", __name__)

PREFIX = "/api/v1/"
HEALTH_STATUSES = ("ok", "degraded")  # web/api.py health(): every model installed, or not
INTERNAL_ERROR = "internal_error"  # web/errors.py: anything that is not a RagError


@bp.get("/api/v1/openapi.json")
def document() -> Response:
    return jsonify(build(current_app))


@bp.get("/api/docs")
def docs() -> str:
    return render_template("api_docs.html")


# --- JSON Schema (2020-12) building blocks --------------------------------------------------------

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
ANY_OBJECT: dict[str, Any] = {"type": "object"}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


def array(items: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **more}


def enum(values: tuple[str, ...], *, null: bool = False) -> dict[str, Any]:
    if null:
        return {"type": ["string", "null"], "enum": [*values, None]}
    return {"type": "string", "enum": list(values)}


def obj(props: dict[str, Any], *, optional: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    """An object with exactly these properties, all required but `optional`: a field a view
    adds without documenting it fails the tests."""
    required = [k for k in props if k not in optional]
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
        **more,
    }


def sse_item(events: dict[str, dict[str, Any]], description: str) -> dict[str, Any]:
    """One server-sent event as OpenAPI 3.2 describes an item of `text/event-stream` (and as
    schemathesis reads a 3.1 event-stream `schema`): an object of `event` (the name, or
    `message`) and `data` (a string), here JSON of the named event's schema."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "description": description,
        "properties": {"event": {**STR, "enum": list(events)}, "data": STR},
        "oneOf": [
            {"properties": {"event": {"const": name}, "data": json_text(schema)}}
            for name, schema in events.items()
        ],
    }


def json_text(schema: dict[str, Any]) -> dict[str, Any]:
    return {**STR, "contentMediaType": "application/json", "contentSchema": schema}


# The schemas and operations are tables, a few lines each: kept as written.
# fmt: off
RELATION = {"id": STR, "source": {**STR, "description": "entity id"},
            "target": {**STR, "description": "entity id"}, "description": STR,
            "keywords": array(STR), "weight": NUM}
TRACE = array(
    {"type": "object", "required": ["step"], "properties": {"step": {"type": ["string", "integer"]}},
     "description": "One step of the mode's work: `retrieve`; graph `match_entities`, `local`, "
                    "`ppr`, `fuse`, `global_map`; KAG `plan` then numbered steps, or `fallback`."}
)

FILTERS = {**FILTER_SCHEMA, "type": ["object", "null"]}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj({"error": obj({"code": STR, "message": STR})}),
    "Source": obj({
        "n": {**INT, "minimum": 1, "description": "`[n]` in the answer cites this passage"},
        "chunk_id": STR, "doc_id": STR, "document": STR, "title": STR,
        "location": {**STR, "description": 'where in the document: "page 3, Intro > Setup"'},
        "score": NUM, "text": STR,
    }),
    "Answer": obj({
        "question": STR, "answer": STR, "mode": enum(MODE_NAMES), "language": STR,
        "sources": array(ref("Source")),
        "cited": array(INT, description="the `n` of each source the answer cites"),
        "timings": {**ANY_OBJECT, "additionalProperties": NUM, "description": "seconds"},
        "trace": TRACE,
        "prompt_tokens": {**INT, "description": "the prompt's size in the generator's tokens"},
        "sentences": array(ref("SentenceCheck"), description="each sentence checked against "
                           "the passages (empty for a refusal)"),
        "support": {**nullable("number"), "description": "the share of sentences supported; "
                    "null when there was nothing to check"},
    }),
    "SentenceCheck": obj({
        "text": STR,
        "citations": array(INT, description="the passages the sentence cites, as written"),
        "supported": {**BOOL, "description": "some passage in the prompt supports it"},
        "score": {**NUM, "description": "the cited passages' best support, or the "
                  "corrected one's, 0…1"},
        "best": {**nullable("integer"), "description": "the passage that supports it best"},
        "corrected": {**nullable("array"), "items": INT,
                      "description": "the citation it should have, when it differs"},
    }),
    "FileJob": obj({
        "name": {**STR, "description": "the relative path it was uploaded as"},
        "stage": enum(choices(FileStage)), "progress": {**NUM, "minimum": 0, "maximum": 1},
        "doc_id": nullable("string"), "chunks": {**INT, "minimum": 0}, "error": nullable("string"),
    }),
    "Job": obj({
        "id": STR, "state": enum(choices(JobState)), "created_at": NUM,
        "started_at": nullable("number"), "finished_at": nullable("number"),
        "files": array(ref("FileJob")), "error": nullable("string"),
    }, description="Times are seconds since the epoch."),
    "DocumentRow": obj({
        "id": nullable("string", description="null while the file is still in a job"),
        "name": STR, "source": STR, "title": STR, "format": STR, "size": nullable("integer"),
        "pages": nullable("integer", description="the highest page or slide number"),
        "chunks": INT, "entities": nullable("integer"), "ingested_at": NUM,
        "status": enum(shapes.DOCUMENT_STATUSES),
        "metadata": {"type": "object", "additionalProperties": STR},
        "error": nullable("string"), "job": nullable("string", description="its job, if any"),
    }),
    "Chunk": obj({
        "id": STR, "ordinal": INT, "text": STR, "page": nullable("integer"),
        "section": {**STR, "description": 'the heading path, " > "-joined'}, "kind": STR,
        "location": STR,
    }),
    "Passage": obj({"chunk_id": STR, "doc_id": STR, "document": STR, "location": STR,
                    "text": STR}),
    "EntityRef": obj({"id": STR, "name": STR, "type": STR}),
    "EntitySummary": obj({
        "id": STR, "name": STR, "type": STR, "description": STR, "aliases": array(STR),
        "degree": INT, "chunks": {**INT, "description": "passages that mention it"},
    }),
    "Relation": obj(RELATION),
    "EntityRelation": obj({**RELATION, "other": ref("EntityRef")}),
    "SubgraphNode": obj({"id": STR, "name": STR, "type": STR, "description": STR,
                         "degree": INT, "seed": BOOL}),
    "SubgraphEdge": obj({k: RELATION[k] for k in ("id", "source", "target", "description",
                                                   "weight")}),
    "Subgraph": obj({"nodes": array(ref("SubgraphNode")), "edges": array(ref("SubgraphEdge"))}),
    "Community": obj({
        "id": STR, "level": {**INT, "minimum": 0}, "title": STR, "summary": STR, "size": INT,
        "entity_ids": array(STR), "parent": nullable("string"),
    }),
    "ModelStatus": obj({"name": STR, "installed": BOOL}),
    "Health": obj({
        "status": enum(HEALTH_STATUSES), "version": STR,
        "store": obj({"path": STR, "documents": INT, "chunks": INT, "exists": BOOL}),
        "models": obj({"embedder": ref("ModelStatus"), "generator": ref("ModelStatus")}),
    }),
    "QueryRequest": obj({
        "question": {**STR, "minLength": 1, "pattern": r"\S"},
        "mode": {**enum(MODE_NAMES, null=True), "default": MODE_NAMES[0]},
        "strategy": {**enum(GRAPH_STRATEGIES, null=True),
                     "description": "graph mode only; null: the mode's default"},
        "k": nullable("integer", minimum=1, maximum=MAX_K,
                      description="passages; null: the server's top_k"),
        "method": {**enum(RETRIEVAL_METHODS, null=True),
                   "description": "retrieval method; null: the server's setting"},
        "filters": FILTERS,
    }, optional=("mode", "strategy", "k", "method", "filters")),
    "RetrieveResult": obj({
        "question": STR, "mode": enum(MODE_NAMES), "strategy": enum(GRAPH_STRATEGIES, null=True),
        "method": enum(RETRIEVAL_METHODS), "k": {**INT, "minimum": 1},
        "sources": array(ref("Source")), "trace": TRACE,
        "timings": obj({"retrieve": {**NUM, "description": "seconds"}}),
    }),
    "SourcesEvent": obj({"sources": array(ref("Source")), "trace": TRACE}),
    "TokenEvent": obj({"text": STR}),
    "DocumentList": obj({"documents": array(ref("DocumentRow")), "total": INT, "page": INT,
                         "per_page": INT}),
    "DocumentDetail": obj({"document": ref("DocumentRow"), "chunks": array(ref("Chunk")),
                           "entities": array(ref("EntityRef"))}),
    "Deleted": obj({"deleted": array(ref("DocumentRow"))}),
    "JobEnvelope": obj({"job": ref("Job")}),
    "JobList": obj({"jobs": array(ref("Job"), description="newest first")}),
    "EntityList": obj({"entities": array(ref("EntitySummary"))}),
    "EntityDetail": obj({"entity": ref("EntitySummary"), "relations": array(ref("EntityRelation")),
                         "chunks": array(ref("Passage"))}),
    "RelationDetail": obj({"relation": ref("Relation"), "source": ref("EntityRef"),
                           "target": ref("EntityRef"), "chunks": array(ref("Passage"))}),
    "CommunityList": obj({"communities": array(ref("Community"))}),
}
# the JSON body of /ask: the query, and whether to stream the answer as server-sent events
SCHEMAS["AskRequest"] = {
    **SCHEMAS["QueryRequest"],
    "properties": {**SCHEMAS["QueryRequest"]["properties"], "stream": {**BOOL, "default": False}},
}

# --- the OpenAI-compatible /v1 (web/openai_api.py, web/openai_shapes.py) ---
MODEL_IDS = tuple(m.id for m in openai_shapes.chat_models())
NOT_BLANK = {**STR, "pattern": f"[^{SPACE_CLASS}]"}
TEXT_PART = {"properties": {"type": {"const": "text"}}}
OPENAI_PARTS = array({"type": "object", "required": ["type"], "properties": {"type": STR},
                      "if": TEXT_PART, "then": {"required": ["text"], "properties": {"text": STR}}},
                     description="content parts; the `text` parts are read, others ignored")
# web/openai_api.py _messages: the question is the text of the last user message
ASKS = {"type": "object", "required": ["role", "content"], "properties": {
    "role": {"const": "user"},
    "content": {"anyOf": [NOT_BLANK, {"type": "array", "contains": {
        **TEXT_PART, "required": ["type", "text"],
        "properties": {**TEXT_PART["properties"], "text": NOT_BLANK}}}]},
}}
SCHEMAS.update({
    "OpenAIError": obj({"error": obj({"message": STR, "type": STR, "code": STR,
                                      "param": nullable("string")})}),
    "ChatModel": obj({"id": enum(MODEL_IDS), "object": enum(("model",)), "created": INT,
                      "owned_by": STR, "name": STR}),
    "ChatModelList": obj({"object": enum(("list",)), "data": array(ref("ChatModel"))}),
    "ChatMessage": {"type": "object", "required": ["role"], "properties": {
        "role": enum(openai_api.ROLES),
        "content": {"anyOf": [STR, OPENAI_PARTS, {"type": "null"}]},
    }},
    "ChatCompletionRequest": {
        "type": "object", "required": ["model", "messages"],
        "description": "OpenAI's request. Other OpenAI fields (temperature, max_tokens, user, "
        "tools, …) are accepted and ignored: the server's settings decide how the model "
        "answers. `filters`, `k`, `strategy` and `method` are this server's, as in "
        "/api/v1/ask (the `openai` client sends them with `extra_body=`).",
        "properties": {
            "model": {**enum(MODEL_IDS), "description": "a mode, or graph:<strategy>"},
            "messages": array(ref("ChatMessage"), minItems=1, contains=ASKS,
                              description="the conversation; its last user message is the "
                              "question (it must have text), earlier user messages help "
                              "retrieval"),
            "stream": nullable("boolean", default=False),
            "stream_options": {"type": ["object", "null"],
                               "properties": {"include_usage": BOOL}},
            "n": {"type": ["integer", "null"], "enum": [1, None]},
            "filters": FILTERS,
            "k": nullable("integer", minimum=1, maximum=MAX_K),
            "strategy": {**enum(GRAPH_STRATEGIES, null=True),
                         "description": "graph mode; a graph:<strategy> model names its own"},
            "method": enum(RETRIEVAL_METHODS, null=True),
        },
    },
    "ChatCompletion": obj({
        "id": STR, "object": enum(("chat.completion",)), "created": INT, "model": STR,
        "choices": array(obj({
            "index": INT, "logprobs": {"type": "null"}, "finish_reason": enum(("stop",)),
            "message": obj({"role": enum(("assistant",)), "content": STR}),
        }), minItems=1, maxItems=1),
        "usage": ref("Usage"),
        "sources": array(ref("Source"), description="extension: the passages `[n]` cites"),
        "cited": array(INT, description="extension: the `n` the answer cites"),
    }),
    "Usage": obj({"prompt_tokens": INT, "completion_tokens": INT, "total_tokens": INT},
                 description="estimated: words, punctuation and Chinese characters"),
    "ChatCompletionChunk": obj({
        "id": STR, "object": enum(("chat.completion.chunk",)), "created": INT, "model": STR,
        "choices": array(obj({
            "index": INT, "logprobs": {"type": "null"},
            "finish_reason": enum(("stop",), null=True),
            "delta": obj({"role": enum(("assistant",)), "content": STR},
                         optional=("role", "content")),
        }), maxItems=1),
        "usage": ref("Usage"),
        "event": obj({"type": enum(("source",)), "data": ref("WebUISource")},
                     description="Open WebUI's source event, one per passage"),
        "sources": array(ref("Source"), description="extension: every passage, once"),
        "cited": array(INT, description="extension, on the finishing chunk"),
    }, optional=("usage", "event", "sources", "cited")),
    "WebUISource": obj({
        "source": obj({"id": STR, "name": STR}), "document": array(STR),
        "metadata": array(obj({"source": STR, "name": STR, "page": {**INT, "minimum": 0}},
                              optional=("page",))),
        "distances": array(NUM),
    }),
})

OPENAI_EVENTS = {"message": {"anyOf": [ref("ChatCompletionChunk"), ref("OpenAIError")]}}
CHAT_OK = {"200": {
    "description": "The ChatCompletion; with `stream: true`, server-sent events instead, each "
    "`data:` a ChatCompletionChunk: the role; for each passage an Open WebUI `event` "
    "(`choices` empty) and then all `sources`; the answer's tokens; the finish with `cited`; "
    "`usage` if `stream_options.include_usage`; and `data: [DONE]`. A failure after the "
    "stream began is an OpenAIError frame before `[DONE]`.",
    "content": {
        "application/json": {"schema": ref("ChatCompletion")},
        "text/event-stream": {"schema": {  # data: JSON, and the last `data: [DONE]`
            "type": "object", "required": ["event", "data"],
            "properties": {"event": {"const": "message"}, "data": STR},
            "if": {"properties": {"data": {"const": "[DONE]"}}},
            "else": {"properties": {"data": json_text(OPENAI_EVENTS["message"])}},
        }, "x-events": OPENAI_EVENTS},
    },
}}
# fmt: on

# --- operations: what each view function takes and answers --------------------------------------


def ok(status: int, schema: str, description: str = "") -> dict[str, Any]:
    return {
        str(status): {
            "description": description or HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": ref(schema)}},
        }
    }


def query_int(name: str, default: int | None, lo: int, hi: int, description: str) -> dict[str, Any]:
    # web/api.py _int_arg: an empty value (`?page=`, what a form sends) is the default
    schema: dict[str, Any] = {
        "anyOf": [{**INT, "minimum": lo, "maximum": hi}, {**STR, "maxLength": 0}]
    }
    if default is not None:
        schema["default"] = default
    return {"name": name, "in": "query", "schema": schema, "description": description}


def query_str(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema or STR, "description": description}


def query_list(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "style": "form",
        "explode": False,
        "schema": array(STR),
        "description": description,
    }


def query_repeated(name: str, description: str, item: dict[str, Any]) -> dict[str, Any]:
    """A parameter given once per value (`?where=a=1&where=b=2`)."""
    schema = array(item)
    return {"name": name, "in": "query", "style": "form", "explode": True, "schema": schema,
            "description": description}  # fmt: skip


# rag.filters.parse_where splits `where` at its first "=" and wants a key that is not blank
WHERE_ITEM = {**STR, "pattern": f"^[^=]*[^={SPACE_CLASS}][^=]*=", "examples": ["team=infra"]}


def json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


# fmt: off
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "properties": {
        "file": array({**STR, "format": "binary", "contentMediaType": "application/octet-stream"},
                      minItems=1, description="one or more files; a filename may hold a relative "
                      "folder path (folder/sub/a.pdf), kept. Types: "
                      + ", ".join(sorted(SUPPORTED_EXTENSIONS))),
        "metadata": {**METADATA_SCHEMA,
                     "description": "a JSON object of string, number or boolean values, stored "
                     "with every document of the upload and matched by filters.metadata"},
    }},
    "encoding": {
        "file": {"headers": {"Content-Disposition": {
            "schema": STR, "example": 'form-data; name="file"; filename="notes/setup.md"',
            "description": "each part's filename is the document's name, with its folders; "
            "its extension picks the loader (415 for any other); two parts of one upload "
            "cannot have the same name (400)"}}},
        "metadata": {"contentType": "application/json"},
    },
}}}

SSE_EVENTS = {"sources": ref("SourcesEvent"), "token": ref("TokenEvent"), "done": ref("Answer"),
              "error": ref("Error")}
ASK_OK = {"200": {
    "description": "The Answer; with `stream: true`, server-sent events instead: `sources` "
    "(SourcesEvent) once, `token` (TokenEvent) for each piece of the answer, then `done` (the "
    "Answer); a failure after the stream began is an `error` event (Error) that ends it. The "
    "data of each event is JSON; `x-events` names the schema of each.",
    "content": {
        "application/json": {"schema": ref("Answer")},
        "text/event-stream": {"schema": sse_item(SSE_EVENTS, "event: NAME, data: JSON"),
                              "x-events": SSE_EVENTS},
    },
}}
# fmt: on

QUERY_ERRORS = (
    BadRequest,
    CrossSite,
    InvalidValue,
    StoreNotFound,
    EmbedderMismatch,
    ModelNotInstalled,
    MissingDependency,
)
PATH_PARAMS = {
    "doc_id": "a document id, as GET /api/v1/documents lists them",
    "job_id": "a job id, as POST /api/v1/documents answers it",
    "entity_id": "an entity id, or an entity's name or alias",
    "relation_id": "a relation id",
    "model_id": "a model id, as GET /v1/models lists them",
}


@dataclass(frozen=True)
class Op:
    tag: str
    summary: str
    responses: dict[str, Any]
    errors: tuple[type[RagError], ...] = ()
    query: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None


# fmt: off
OPERATIONS: dict[str, Op] = {  # by endpoint: the view functions of web/api.py and this module
    "api.upload": Op(
        "documents", "Upload files to ingest in the background",
        ok(202, "JobEnvelope", "Queued: follow the job at /api/v1/jobs/{id}"),
        (BadRequest, QueueFull, StoreLocked, EmbedderMismatch, FileTooLarge, UnsupportedFormat,
         ModelNotInstalled, MissingDependency), body=UPLOAD_BODY,
    ),
    "api.list_documents": Op(
        "documents", "Stored documents, then files still in jobs", ok(200, "DocumentList"),
        (BadRequest, InvalidValue),
        (query_int("page", 1, 1, 10**6, "page number"),
         query_int("per_page", 20, 1, api.MAX_PER_PAGE, "rows per page"),
         query_str("q", "a substring of the name, source or title (case-insensitive)"),
         query_str("status", "only rows of this status; empty: any",
                   **enum((*shapes.DOCUMENT_STATUSES, ""))),
         query_repeated("where", "key=value: only rows with this metadata (repeatable: "
                        "different keys all match, the same key any of its values)",
                        WHERE_ITEM)),
    ),
    "api.get_document": Op("documents", "A document, its chunks and the entities they mention",
                           ok(200, "DocumentDetail"), (DocumentNotFound, StoreNotFound)),
    "api.delete_document": Op(
        "documents", "Delete a document (and its uploaded file)", ok(200, "Deleted"),
        (DocumentNotFound, StoreNotFound, StoreLocked),
    ),
    "api.reingest": Op(
        "documents", "Read a document's file again", ok(202, "JobEnvelope"),
        (DocumentNotFound, StoreNotFound, NotFound, QueueFull),
    ),
    "api.list_jobs": Op("jobs", "Recent ingest jobs", ok(200, "JobList")),
    "api.get_job": Op("jobs", "One job", ok(200, "Job"), (JobNotFound,)),
    "api.cancel_job": Op("jobs", "Cancel a job", ok(200, "Job"), (JobNotFound,)),
    "api.retry_job": Op(
        "jobs", "A new job over a job's failed files", ok(202, "JobEnvelope"),
        (JobNotFound, NothingToRetry, QueueFull),
    ),
    "api.retrieve": Op("answers", "Retrieve passages, no generation", ok(200, "RetrieveResult"),
                       QUERY_ERRORS, body=json_body("QueryRequest")),
    "api.ask": Op("answers", "Answer a question from the documents", ASK_OK,
                  (*QUERY_ERRORS, GenerationError), body=json_body("AskRequest")),
    "api.graph_entities": Op(
        "graph", "Entities by name or alias, best first", ok(200, "EntityList"),
        (BadRequest, InvalidValue, StoreNotFound),
        (query_str("q", "a name or alias; empty: the most connected entities"),
         query_int("limit", 20, 1, 500, "at most this many")),
    ),
    "api.graph_entity": Op("graph", "An entity, its relations and passages",
                           ok(200, "EntityDetail"), (EntityNotFound, StoreNotFound)),
    "api.graph_relation": Op("graph", "A relation, its two entities and passages",
                             ok(200, "RelationDetail"), (NotFound, StoreNotFound)),
    "api.graph_subgraph": Op(
        "graph", "The neighbourhood of some entities", ok(200, "Subgraph"),
        (BadRequest, InvalidValue, EntityNotFound, StoreNotFound),
        (query_list("entities", "seed entities (ids, names or aliases); with neither this nor "
                    "chunks: the most connected entities"),
         query_list("chunks", "chunk ids: their entities are seeds too"),
         query_int("depth", 1, 0, 3, "hops out from the seeds"),
         query_int("limit", 150, 1, 1000, "at most this many nodes")),
    ),
    "api.graph_communities": Op(
        "graph", "Communities of the knowledge graph", ok(200, "CommunityList"),
        (BadRequest, InvalidValue, StoreNotFound),
        (query_int("level", None, 0, 100, "only this level; absent or empty: every level"),),
    ),
    "api.health": Op("service", "Store and model status (no API key needed)", {
        **ok(200, "Health", "Ready"), **ok(503, "Health", "Degraded: a model is not installed"),
    }),
    "v1.list_models": Op("openai", "Models: one per mode and graph strategy",
                         ok(200, "ChatModelList")),
    "v1.get_model": Op("openai", "One model", ok(200, "ChatModel"), (ModelNotFound,)),
    "v1.chat_completions": Op(
        "openai", "Answer a conversation's last question (OpenAI-compatible)", CHAT_OK,
        (*QUERY_ERRORS, ModelNotFound, GenerationError), body=json_body("ChatCompletionRequest"),
    ),
    "openapi.document": Op("service", "This document", {"200": {
        "description": "OpenAPI 3.1", "content": {"application/json": {"schema": ANY_OBJECT}},
    }}),
}
# fmt: on

WHEN = {
    400: "the body is not a JSON object, or a field is missing or of the wrong type",
    401: "the server has an API key and the request does not carry it",
    403: "a write sent by another site's page (Sec-Fetch-Site or Origin says so)",
    404: "no such thing, or no store yet",
    409: "the store or the job queue is busy, or in a state that refuses this",
    413: "a file over the server's RAG_MAX_FILE_MB, or an upload over RAG_MAX_UPLOAD_MB",
    415: "a file type no loader reads; nothing was queued",
    422: "a value that is not among the choices or is out of range",
    500: "a bug, or a store that cannot be used; the server log has the details",
    503: "a model or package this request needs is not installed, or the model failed",
}


def error_responses(errors: tuple[type[RagError], ...], schema: str = "Error") -> dict[str, Any]:
    """One response per status, naming the error codes the classes give it."""
    codes: dict[int, list[str]] = {}
    for cls in errors:
        codes.setdefault(cls.http_status, [])
        if cls.code not in codes[cls.http_status]:
            codes[cls.http_status].append(cls.code)
    codes[500] = [INTERNAL_ERROR, StoreError.code]
    return {
        str(status): {
            "description": f"{WHEN[status]}. Codes: " + ", ".join(f"`{c}`" for c in found),
            "content": {"application/json": {"schema": ref(schema)}},
            "x-error-codes": found,
        }
        for status, found in sorted(codes.items())
    }


# --- the document ---------------------------------------------------------------------------------

_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi_path(rule: Rule) -> str:
    """`/api/v1/documents/<doc_id>` → `/api/v1/documents/{doc_id}`."""
    return _ARG.sub(r"{\1}", rule.rule)


def operation(endpoint: str, rule: Rule, op: Op, method: str) -> dict[str, Any]:
    public = rule.rule in auth.OPEN_PATHS
    schema = "OpenAIError" if rule.rule.startswith(OPENAI_PREFIX) else "Error"
    errors = op.errors if public else (*op.errors, Unauthorized)
    if method in auth.UNSAFE_METHODS:
        errors = (*errors, CrossSite)
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": STR,
            "description": PATH_PARAMS[name],
        }
        for name in _ARG.findall(rule.rule)
    ]
    out: dict[str, Any] = {
        "operationId": endpoint.split(".", 1)[1],
        "tags": [op.tag],
        "summary": op.summary,
        "responses": dict(sorted({**op.responses, **error_responses(errors, schema)}.items())),
    }
    if params or op.query:
        out["parameters"] = [*params, *op.query]
    if op.body is not None:
        out["requestBody"] = op.body
    if public:
        out["security"] = []
    return out


def build(app: Flask) -> dict[str, Any]:
    """The document for `app`'s routes under /api/v1 and /v1 (a route missing from OPERATIONS
    is left out, and the tests name it)."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        op = OPERATIONS.get(rule.endpoint)
        if op is None or not rule.rule.startswith((PREFIX, OPENAI_PREFIX)):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule), {})[method.lower()] = operation(
                rule.endpoint, rule, op, method
            )
    # this server's own requirement: one without a key takes every request as it comes
    keyed = bool(app.config.get("RAG_API_KEY"))
    either: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
    security = either if keyed else []
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rag-kg REST API",
            "version": package_version(),
            "description": "Offline RAG, Graph RAG and KAG question answering over your own "
            'documents. Errors are `{"error": {"code", "message"}}`. When the server has '
            "an API key (RAG_API_KEY), send it as `Authorization: Bearer <key>` or in the "
            f"`{auth.COOKIE}` cookie that /login sets; without one, no key is needed. "
            "Under /v1, an OpenAI-compatible chat API: one model per mode, OpenAI's request, "
            'answer and stream, errors as `{"error": {"message", "type", "code", "param"}}`.',
        },
        "tags": [
            {"name": "documents"},
            {"name": "jobs"},
            {"name": "answers"},
            {"name": "graph"},
            {"name": "openai"},
            {"name": "service"},
        ],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": auth.COOKIE},
            },
        },
        "security": security,
    }
