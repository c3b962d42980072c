"""`rag mcp`: the engine as a Model Context Protocol server, for desktop assistants and agents.

Built on the official SDK (`mcp`, major version 2: `MCPServer`, what 1.x called FastMCP). Five
read-only tools (search, ask, list_documents, get_chunk, graph_neighbors) with JSON-schema'd
structured results (`mcp_shapes`), and the documents and chunks as resources
(`rag://document/{id}`, `rag://chunk/{id}`, `mcp_resources`); `mcp_transports.run` serves it
over stdio or streamable HTTP. Every tool calls the same Engine methods as the CLI and the REST
API, and filters are the REST API's JSON object, read by `rag.filters`.

Errors: the project's typed errors become one clear message, translated here and only here
(`_tool_edge`, `_resource_edge`): a tool answers `isError` with the message, a resource read
a JSON-RPC error (-32602 for what does not exist). Anything else is a bug; the SDK then tells
the client only "Error executing tool <name>" and logs the traceback on the server's stderr.

The SDK runs these synchronous tools on worker threads; the Engine is safe to share between
them (its parts are built once under a lock, and generation is serialised).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from mcp_types import Resource as ResourceInfo
from pydantic import BaseModel, Field, WithJsonSchema

from ingest.errors import EntityNotFound, RagError, StoreNotFound, UsageError
from ingest.types import ChunkHit
from rag.choices import GraphStrategy, ModeName, RetrievalMethod
from rag.engine import Engine
from rag.filters import FILTER_SCHEMA, filter_from_json
from rag.integrations import mcp_resources as resources
from rag.integrations import mcp_shapes as shapes
from rag.modes.base import MAX_K
from rag.serving import package_version
from rag.types import Done

if TYPE_CHECKING:
    from graph.knowledge_graph import KnowledgeGraph

log = logging.getLogger(__name__)

CHUNKS_PER_RELATION = 3

_FILTER_SCHEMA = {
    "anyOf": [FILTER_SCHEMA, {"type": "null"}],
    "default": None,
    "description": 'e.g. {"doc_ids": ["…"], "path_glob": "*.pdf", "metadata": {"team": "infra"}}',
}
Filters = Annotated[dict[str, Any] | None, WithJsonSchema(_FILTER_SCHEMA)]
Question = Annotated[str, Field(min_length=1, description="the question, in any language")]
K = Annotated[
    int | None, Field(ge=1, le=MAX_K, description="passages (default: the store's RAG_TOP_K)")
]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)

P = ParamSpec("P")
R = TypeVar("R")


# --- the error edge: the project's errors, translated once ------------------------------------


def _message(e: RagError) -> str:
    return " ".join(str(e).split()) or e.code


def _tool_edge(fn: Callable[P, CallToolResult]) -> Callable[P, CallToolResult]:
    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        try:
            return fn(*args, **kwargs)
        except RagError as e:
            log.info("%s: %s", fn.__name__, e)
            return CallToolResult(
                content=[TextContent(text=_message(e))], is_error=True, _meta={"code": e.code}
            )

    return call


def _resource_edge(fn: Callable[P, str]) -> Callable[P, str]:
    @functools.wraps(fn)
    def read(*args: P.args, **kwargs: P.kwargs) -> str:
        try:
            return fn(*args, **kwargs)
        except RagError as e:
            missing = e.http_status == 404
            raise (ResourceNotFoundError if missing else ResourceError)(_message(e)) from None

    return read


def _result(model: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(text=text)], structured_content=model.model_dump(mode="json")
    )


def _question(text: str) -> str:
    if not text.strip():
        raise UsageError("question must not be empty")
    return text.strip()


# --- the server ----------------------------------------------------------------------------------


class RagMCPServer(MCPServer):
    """The SDK's server, listing each stored document as a resource (read through the
    `rag://document/{id}` template); the store is read at each listing, so it is never stale."""

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    async def list_resources(self) -> list[ResourceInfo]:
        fixed = await super().list_resources()
        try:
            docs = await anyio.to_thread.run_sync(self.engine.documents)
        except StoreNotFound:
            docs = []
        return fixed + [
            ResourceInfo(
                uri=shapes.document_uri(d.id), name=d.name, title=d.title or d.name,
                description=f"{d.format}, {d.n_chunks} chunks: {d.source}",
                mime_type="text/markdown",
            )
            for d in docs
        ]  # fmt: skip


INSTRUCTIONS = """Questions over the documents of one knowledge base (PDF, Word, slides, HTML,
Markdown, text; Chinese and English). `search` finds passages (cite them by document and
location); `ask` answers with numbered citations, written by the server's own model; `get_chunk`
reads the text around a passage; `graph_neighbors` shows what the knowledge graph relates to an
entity, with the chunks each relation comes from; `list_documents` and the rag://document/{id}
resources give whole documents. `filters` narrow any of them to documents by id, path glob or
metadata."""


def build_server(engine: Engine) -> RagMCPServer:
    """The MCP server over `engine` (which it does not close)."""
    server = RagMCPServer(engine, name="rag", version=package_version(), instructions=INSTRUCTIONS)

    @server.tool(annotations=READ_ONLY)
    @_tool_edge
    def search(
        question: Question,
        k: K = None,
        mode: ModeName = "rag",
        strategy: GraphStrategy | None = None,
        method: RetrievalMethod | None = None,
        filters: Filters = None,
    ) -> Annotated[CallToolResult, shapes.SearchResult]:
        """Find the passages that answer a question, best first, without generating an answer.
        mode rag: hybrid retrieval (method: dense, bm25 or hybrid); graph: passages reached
        through the knowledge graph (strategy local, global, ppr or hybrid); kag: a planned,
        multi-step retrieval (uses the server's model)."""
        q = engine.query(_question(question), mode=mode, strategy=strategy, k=k, method=method,
                         filters=filter_from_json(filters))  # fmt: skip
        t0 = time.perf_counter()
        ctx = engine.context(q)
        found = shapes.SearchResult(
            question=q.question, mode=q.mode, strategy=q.strategy, results=shapes.passages(ctx.hits),
            timings={"retrieval_s": round(time.perf_counter() - t0, 4)},
        )  # fmt: skip
        return _result(found, shapes.search_text(found))

    @server.tool(annotations=READ_ONLY)
    @_tool_edge
    def ask(
        question: Question,
        mode: ModeName = "rag",
        k: K = None,
        strategy: GraphStrategy | None = None,
        filters: Filters = None,
    ) -> Annotated[CallToolResult, shapes.AskResult]:
        """Answer a question from the documents, in the question's language, with numbered
        citations [n] to the sources listed with the answer. Slower than search: the server's
        own model writes the answer."""
        q = engine.query(_question(question), mode=mode, strategy=strategy, k=k,
                         filters=filter_from_json(filters))  # fmt: skip
        t0 = time.perf_counter()
        ctx = engine.context(q)
        answer = next(
            ev.answer for ev in engine.stream(q, context=ctx, started=t0) if isinstance(ev, Done)
        )
        found = shapes.ask_result(answer, ctx.hits)
        return _result(found, shapes.ask_text(found))

    @server.tool(annotations=READ_ONLY)
    @_tool_edge
    def list_documents(filters: Filters = None) -> Annotated[CallToolResult, shapes.DocumentList]:
        """The documents in the store (id, file name, title, format, chunks, metadata), or those
        a filter admits, e.g. {"metadata": {"team": "infra"}}."""
        flt = filter_from_json(filters)
        docs = engine.documents()
        shown = [shapes.document_entry(d) for d in docs if flt is None or flt.admits(d)]
        found = shapes.DocumentList(documents=shown, total=len(docs))
        return _result(found, shapes.documents_text(found))

    @server.tool(annotations=READ_ONLY)
    @_tool_edge
    def get_chunk(
        chunk_id: Annotated[str, Field(min_length=1, description="a chunk id from search")],
        neighbours: Annotated[int, Field(ge=0, le=10, description="chunks either side")] = 1,
    ) -> Annotated[CallToolResult, shapes.ChunkResult]:
        """One chunk's text and provenance, with the chunks before and after it in the same
        document (reading order)."""
        hit = engine.chunk(chunk_id.strip())
        found = shapes.chunk_result(hit, engine.chunks(hit.document.id), neighbours)
        return _result(found, shapes.chunk_text(found))

    @server.tool(annotations=READ_ONLY)
    @_tool_edge
    def graph_neighbors(
        entity: Annotated[str, Field(min_length=1, description="entity name, alias or id")],
        depth: Annotated[int, Field(ge=1, le=3, description="hops from the entity")] = 1,
        limit: Annotated[int, Field(ge=1, le=200, description="at most this many entities")] = 20,
    ) -> Annotated[CallToolResult, shapes.Neighbourhood]:
        """What the knowledge graph relates to an entity: its neighbours out to `depth` hops and
        the relations among them, each with the chunks it was extracted from."""
        found = _neighbourhood(engine, engine.graph(), entity, depth, limit)
        return _result(found, shapes.neighbourhood_text(found))

    @server.resource("rag://document/{id}", mime_type="text/markdown")
    @_resource_edge
    def document(id: str) -> str:
        """A document: its metadata, then its text (the chunks in reading order)."""
        doc = engine.document(id)
        return resources.document_resource(doc, engine.chunks(doc.id))

    @server.resource("rag://chunk/{id}", mime_type="text/plain")
    @_resource_edge
    def chunk(id: str) -> str:
        """A chunk's text, with its document, location and position."""
        hit = engine.chunk(id)
        return resources.chunk_resource(hit, hit.document.n_chunks)

    return server


def _neighbourhood(
    engine: Engine, kg: KnowledgeGraph, name: str, depth: int, limit: int
) -> shapes.Neighbourhood:
    """As the REST API's /graph/entities/<name> finds the entity (id, name or alias), with
    KnowledgeGraph.neighbourhood's entities and relations, each relation's first chunks read
    in one lookup."""
    e = kg.find(name.strip())
    if e is None:
        raise EntityNotFound(f"no entity {name!r} in the knowledge graph")
    entities, relations = kg.neighbourhood([e.id], depth, limit)
    relations.sort(key=lambda r: (e.id not in (r.source, r.target), -r.weight, r.id))
    wanted = list(dict.fromkeys(c for r in relations for c in r.chunk_ids[:CHUNKS_PER_RELATION]))
    hits: list[ChunkHit] = engine.store.chunks.hits([(c, 0.0) for c in wanted])
    found = {h.chunk.id: h for h in hits}
    return shapes.Neighbourhood(
        entity=shapes.entity_entry(kg, e),
        neighbours=[shapes.entity_entry(kg, n) for n in entities if n.id != e.id],
        relations=[shapes.relation_entry(kg, r, found) for r in relations],
    )
