"""`rag migrate`: copy a knowledge base into the other backend (embedded ⇄ cluster), exactly.

Nothing is embedded or extracted again: each document is written with its own DocumentInfo
(id, ingested_at, metadata), its chunks in reading order, their indexed texts rebuilt the way
ingest builds them (`indexed_text`: the embedded store keeps only keyword tokens), and the
vectors the source holds for them. The graph's per-chunk extractions and done marks are copied,
then the resolved graph itself (`replace_graph`) with its report and vector caches: resolving
again would give the same graph, but costs time, and a copy is exact by construction.

Both stores' write locks are held throughout, so no ingest moves the source mid-copy and no
reader of the target sees half of it (each document is one write of the target).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

from graph.builder import vector_texts
from graph.ports import GraphStore
from ingest.chunking import indexed_text
from ingest.errors import StoreNotFound, UsageError
from ingest.hashing import content_id
from ingest.ports import ChunkBatch, ChunkStore
from ingest.types import DocumentInfo
from rag.engine import Engine
from rag.settings import Settings

BATCH = 256  # chunks a batch: one page of `iter_chunks_of`, its vectors read in one query

DocProgress = Callable[[int, int, DocumentInfo], None]


@dataclass(frozen=True)
class MigrateReport:
    source: str
    target: str
    documents: int
    chunks: int
    graph_documents: int
    entities: int
    seconds: float


def migrate(
    source: Settings,
    target: Settings,
    *,
    replace: bool = False,
    progress: DocProgress | None = None,
) -> MigrateReport:
    """Copy the knowledge base `source` names into the one `target` names, which must be
    empty (or, with `replace`, is deleted first)."""
    t0 = time.perf_counter()
    with Engine(source) as src, Engine(target) as dst:
        if src.location == dst.location:
            raise UsageError(f"the source and the target are both {src.location}")
        name, dim = src.stored_embedder()  # StoreNotFound: nothing to migrate
        _make_room(dst, replace)
        store = dst.create_store_as(name, dim)
        with src.store.writing(source.write_wait), store.writing(target.write_wait):
            docs = src.documents()
            n_chunks = 0
            for i, doc in enumerate(docs, 1):
                written = store.write_document(doc, _batches(src.store.chunks, store.chunks, doc))
                n_chunks += written.n_chunks
                if progress is not None:
                    progress(i, len(docs), written)
            done, entities = _copy_graph(src.graph_store, dst.graph_store, {d.id for d in docs})
        return MigrateReport(src.location, dst.location, len(docs), n_chunks, done, entities,
                             time.perf_counter() - t0)  # fmt: skip


def _make_room(dst: Engine, replace: bool) -> None:
    """Refuse a target that holds documents (or, embedded, files that are no store) unless
    `replace`; a replaced target is deleted whole, graph included."""
    root = dst.settings.store_dir
    try:
        dst.stored_embedder()
    except StoreNotFound:
        if dst.settings.backend == "embedded" and root.is_dir() and any(root.iterdir()):
            raise UsageError(
                f"{root} is not empty and holds no store; migrate into a new or empty folder"
            ) from None
        return
    if not replace:
        if dst.counts().documents == 0 and not dst.graph_store.doc_ids():
            dst.drop_store()  # an empty knowledge base, perhaps of another embedder: no loss
            return
        raise UsageError(
            f"{dst.location} already holds a knowledge base; pass --replace to delete it and "
            "migrate into its place"
        )
    dst.drop_store()


def _batches(src: ChunkStore, dst: ChunkStore, doc: DocumentInfo) -> Iterator[ChunkBatch]:
    """The document's chunks a page at a time, with the vectors the target lacks."""
    chunks = src.iter_chunks_of(doc.id)
    given: set[str] = set()
    while part := list(islice(chunks, BATCH)):
        texts = [indexed_text(doc.title, c.heading_path, c.text) for c in part]
        wanted = dst.missing_vectors({c.text_hash for c in part}) - given
        vectors = src.vectors(wanted)
        if lost := wanted - vectors.keys():
            raise StoreNotFound(
                f"{doc.source}: {len(lost)} chunks have no stored vector; run `rag doctor "
                "--repair` on the source first"
            )
        given |= wanted
        yield ChunkBatch(part, texts, vectors)


def _copy_graph(src: GraphStore, dst: GraphStore, docs: set[str]) -> tuple[int, int]:
    """Extractions, done marks and planned LLM work per document, then the resolved graph
    and its caches; returns (documents done, entities)."""
    done = src.doc_ids() & docs
    for doc_id in sorted(done):
        exs = src.extractions_of(doc_id)
        # the mark's extractor name is informational (what the builder last ran)
        dst.put_extractions(doc_id, exs, done_by=exs[-1].extractor if exs else "fast")
    for doc_id in sorted(src.unfinished_doc_ids() & docs):
        dst.put_extractions(doc_id, src.extractions_of(doc_id))
        dst.plan_refinement({doc_id: src.pending_refinement(doc_id)})
    with src.reading():
        entities, relations, communities = src.entities(), src.relations(), src.communities()
        stale = src.needs_rebuild()
        reports = src.reports([c.id for c in communities])
        hashes = [content_id(t) for t in vector_texts(entities, relations, communities)]
        vectors = src.vectors(hashes)
    dst.replace_graph(entities, relations, communities)
    if reports:
        dst.put_reports({cid: (text, "migrated") for cid, text in reports.items()})
    if vectors:
        dst.put_vectors(vectors)
    if stale and done:  # the source's graph was behind its extractions: so is the copy's
        first = min(done)
        dst.put_extractions(first, [], done_by="migrated")
    return len(done), len(entities)
