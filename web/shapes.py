"""The JSON shapes of the REST API (web/openapi.py documents each): documents, chunks, sources,
entities, relations and subgraphs, built from the engine's typed results."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ingest.errors import StoreNotFound
from ingest.types import Chunk, ChunkHit, DocumentInfo
from rag.types import Source
from web.workspace import Workspace

if TYPE_CHECKING:
    from graph.knowledge_graph import KnowledgeGraph
    from graph.types import Entity, Relation

DOCUMENT_STATUSES = ("ready", "graph_pending", "queued", "processing", "failed")


def chunk_json(c: Chunk, doc: DocumentInfo) -> dict[str, Any]:
    return {
        "id": c.id, "ordinal": c.ordinal, "text": c.text, "page": c.page,
        "section": c.section, "kind": c.kind,
        "location": ChunkHit(c, doc, 0.0).location,
    }  # fmt: skip


def source_json(s: Source) -> dict[str, Any]:
    return dict(s.__dict__)


def hit_sources(hits: Iterable[ChunkHit]) -> list[dict[str, Any]]:
    return [source_json(Source.from_hit(i, h)) for i, h in enumerate(hits, start=1)]


def entity_ref(e: Entity) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "type": e.type}


def entity_summary(kg: KnowledgeGraph, e: Entity) -> dict[str, Any]:
    return {
        "id": e.id, "name": e.name, "type": e.type, "description": e.description,
        "aliases": list(e.aliases), "degree": kg.degree(e.id), "chunks": len(e.chunk_ids),
    }  # fmt: skip


def relation_json(r: Relation) -> dict[str, Any]:
    return {
        "id": r.id, "source": r.source, "target": r.target, "description": r.description,
        "keywords": list(r.keywords), "weight": r.weight,
    }  # fmt: skip


def document_rows(ws: Workspace) -> list[dict[str, Any]]:
    """Every stored document, then every file still in (or failed in) an ingest job."""
    engine = ws.engine
    try:
        docs = engine.documents()
    except StoreNotFound:  # nothing ingested yet: only what the jobs hold
        docs = []
    rows = stored_rows(ws, docs)
    for job, f in ws.jobs.pending_files():
        status = {"queued": "queued", "failed": "failed"}.get(f.stage, "processing")
        rows.append({
            "id": None, "name": f.name.rsplit("/", 1)[-1], "source": f.name, "title": "",
            "format": f.name.rsplit(".", 1)[-1].lower(), "size": None, "pages": None,
            "chunks": f.chunks, "entities": None, "ingested_at": job.created_at,
            "status": status, "metadata": job.metadata, "error": f.error, "job": job.id,
        })  # fmt: skip
    return rows


def stored_rows(ws: Workspace, docs: list[DocumentInfo]) -> list[dict[str, Any]]:
    """Rows of stored documents, their status from the graph."""
    if not docs:
        return []
    graph_on = ws.engine.settings.graph != "off"
    graphed = ws.engine.graph_store.doc_ids() if graph_on else set()
    return [_row(d, "ready" if not graph_on or d.id in graphed else "graph_pending")
            for d in docs]  # fmt: skip


def document_row(ws: Workspace, doc: DocumentInfo, chunks: list[Chunk]) -> dict[str, Any]:
    """One stored document's row, counts filled from its chunks (already read by the caller)."""
    row = stored_rows(ws, [doc])[0]
    _fill_counts(ws, row, chunks)
    return row


def with_counts(ws: Workspace, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill pages and entities (a read of each document's chunks: done for one page of rows)."""
    for row in rows:
        if row["id"] is not None:
            _fill_counts(ws, row, ws.engine.chunks(row["id"]))
    return rows


def _fill_counts(ws: Workspace, row: dict[str, Any], chunks: list[Chunk]) -> None:
    pages = [c.page for c in chunks if c.page is not None]
    row["pages"] = max(pages) if pages else None
    row["entities"] = _entity_count(ws, [c.id for c in chunks])


def _entity_count(ws: Workspace, chunk_ids: list[str]) -> int:
    if ws.engine.settings.graph == "off" or not chunk_ids:
        return 0
    found = ws.engine.graph_store.entities_of_chunks(chunk_ids)
    return len({e for ids in found.values() for e in ids})


def _row(d: DocumentInfo, status: str) -> dict[str, Any]:
    return {
        "id": d.id, "name": d.name, "source": d.source, "title": d.title, "format": d.format,
        "size": d.size, "pages": None, "chunks": d.n_chunks, "entities": None,
        "ingested_at": d.ingested_at, "status": status, "metadata": dict(d.metadata), "error": None,
        "job": None,
    }  # fmt: skip


def matches(row: dict[str, Any], q: str) -> bool:
    q = q.casefold()
    return any(q in str(row.get(k) or "").casefold() for k in ("name", "source", "title"))


def subgraph(
    kg: KnowledgeGraph, seeds: list[str], depth: int, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """The graph viewer's nodes and edges: the seeds' neighbourhood (graph.KnowledgeGraph)."""
    entities, relations = kg.neighbourhood(seeds, depth, limit)
    seed_set = set(seeds)
    nodes = [{
        "id": e.id, "name": e.name, "type": e.type, "description": e.description,
        "degree": kg.degree(e.id), "seed": e.id in seed_set,
    } for e in entities]  # fmt: skip
    edges = [{"id": r.id, "source": r.source, "target": r.target,
              "description": r.description, "weight": r.weight} for r in relations]  # fmt: skip
    return {"nodes": nodes, "edges": edges}
