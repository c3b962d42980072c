"""`rag doctor`: does everything in a store agree, and, with `--repair`, rebuild what is derived.

The checks live beside what they check (`ingest.store.doctor` for SQLite, FTS5 and FAISS,
`graph.doctor` for the knowledge graph); this module adds the manifest, holds the store's write
lock so no writer moves the store on mid-check, and runs the repair in the order that works:
the store's rows first (the graph cites chunks), then the graph.

On the cluster backend the record is PostgreSQL and Milvus is derived from it: the check is that
the pair agree (`ClusterStore.index_gap`), the repair applies the outbox and reindexes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from graph.doctor import check_graph, docs_to_redo
from ingest.errors import StoreLocked, StoreNotFound
from ingest.health import Problem
from ingest.store import DEFAULT_WAIT_S
from ingest.store.database import DB_FILE
from ingest.store.doctor import Embed, check_store, repair_store
from ingest.store.embedded import LOCK_FILE
from ingest.store.manifest import read_embedder
from rag.settings import Settings

if TYPE_CHECKING:
    from ingest.cluster.store import ClusterStore
    from rag.engine import Engine


@dataclass
class DoctorReport:
    store: str
    documents: int = 0
    chunks: int = 0
    problems: list[Problem] = field(default_factory=list)
    # what an interrupted (or running) ingest leaves and the next one completes: no damage
    unfinished: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def found(self) -> list[Problem]:
        return self.problems + self.unfinished

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store, "ok": self.ok, "documents": self.documents,
            "chunks": self.chunks, "problems": [asdict(p) for p in self.problems],
            "unfinished": [asdict(p) for p in self.unfinished], "repaired": self.repaired,
        }  # fmt: skip


def expected_embedder(settings: Settings) -> str:
    """The embedder name the settings would open the store with (no model is loaded)."""
    if settings.embedder == "hashing":
        from ingest.embedding import HashingEmbedder

        return HashingEmbedder().name
    from ingest.e5 import E5_NAME

    return E5_NAME


@contextmanager
def _no_writer(root: Path, wait: float) -> Iterator[None]:
    """Keep other processes' writers out while checking (the same lock `rag ingest` takes)."""
    lock = FileLock(str(root / LOCK_FILE))
    try:
        lock.acquire(timeout=wait)
    except Timeout as e:
        raise StoreLocked(
            f"another process is writing to {root} (waited {wait:g} s); run `rag doctor` when it "
            "has finished, or pass --wait SECONDS"
        ) from e
    try:
        yield
    finally:
        lock.release()


def diagnose(settings: Settings) -> DoctorReport:
    """Every problem of the store at `settings.store_dir` (or of the cluster knowledge base
    the settings name); changes nothing."""
    if settings.backend == "cluster":
        from rag.engine import Engine

        with Engine(settings) as engine:
            return _diagnose_cluster(engine)
    root = settings.store_dir
    name, dim = read_embedder(root)  # StoreNotFound when there is no store
    if not (root / DB_FILE).is_file():
        raise StoreNotFound(f"{root} has a manifest but no {DB_FILE}: it is not a whole store")
    with _no_writer(root, DEFAULT_WAIT_S if settings.write_wait is None else settings.write_wait):
        return _diagnose(settings, name, dim)


def _diagnose(settings: Settings, name: str, dim: int) -> DoctorReport:
    root = settings.store_dir
    report = DoctorReport(str(root))
    report.problems += _embedder_problems(settings, name)
    report.problems += check_store(root, dim)
    if any(p.code == "sqlite_corrupt" for p in report.problems):
        return report
    docs, chunks = _ids(root)
    report.documents, report.chunks = len(docs), len(chunks)
    report.problems += check_graph(root, docs, chunks, maintained=settings.graph != "off")
    report.unfinished = [p for p in report.problems if p.code in UNFINISHED]
    report.problems = [p for p in report.problems if p.code not in UNFINISHED]
    return report


def _embedder_problems(settings: Settings, name: str) -> list[Problem]:
    want = expected_embedder(settings)
    if name == want:
        return []
    return [Problem(
        "embedder_mismatch", 1,
        f"the store was built with {name}, the settings name {want} (RAG_EMBEDDER): "
        "searching would compare unlike vectors; use the store's embedder",
    )]  # fmt: skip


def _cluster_store(engine: Engine) -> ClusterStore:
    from ingest.cluster.store import ClusterStore

    store = engine.store  # StoreNotFound when there is no knowledge base
    assert isinstance(store, ClusterStore)
    return store


def _diagnose_cluster(engine: Engine) -> DoctorReport:
    """Does Milvus hold exactly PostgreSQL's chunks? Compared without the write lock: taking
    it applies the outbox, which is a repair; a write running meanwhile shows as pending."""
    store = _cluster_store(engine)
    report = DoctorReport(engine.location)
    report.problems += _embedder_problems(engine.settings, engine.stored_embedder()[0])
    counts = store.chunks.counts()
    report.documents, report.chunks = counts.documents, counts.chunks
    missing, extra, pending = store.index_gap()
    if missing:
        report.problems.append(Problem(
            "milvus_missing", missing,
            "chunks on record in PostgreSQL are missing from the Milvus index: no search finds "
            "them", "index them again from PostgreSQL",
        ))  # fmt: skip
    if extra:
        report.problems.append(Problem(
            "milvus_extra", extra,
            "rows in the Milvus index have no chunk in PostgreSQL: searches may rank what was "
            "deleted", "drop them from Milvus",
        ))  # fmt: skip
    if pending:
        report.unfinished.append(Problem(
            "outbox_pending", pending,
            "Milvus operations a write queued are not applied yet (the write died after its "
            "commit, or is running)", "apply them to Milvus",
        ))  # fmt: skip
    return report


def _repair_cluster(settings: Settings) -> DoctorReport:
    from rag.engine import Engine

    with Engine(settings) as engine:
        before = _diagnose_cluster(engine)
        codes = {p.code for p in before.found if p.repairable}
        if not codes or "embedder_mismatch" in {p.code for p in before.problems}:
            return before
        store = _cluster_store(engine)
        done: list[str] = []
        with store.writing(settings.write_wait):  # taking it applies the outbox first
            applied = store.apply_outbox()
            queued = sum(p.count for p in before.unfinished if p.code == "outbox_pending")
            if queued or applied:
                done.append(f"applied {max(queued, applied)} queued operations to Milvus")
            indexed, dropped = store.reindex()
            done.append(f"reindexed Milvus from PostgreSQL ({indexed} chunks indexed, "
                        f"{dropped} rows dropped)")  # fmt: skip
        after = _diagnose_cluster(engine)
        after.repaired = done
        return after


def _ids(root: Path) -> tuple[set[str], set[str]]:
    with closing(sqlite3.connect(root / DB_FILE, isolation_level=None, timeout=30)) as db:
        db.execute("BEGIN")
        docs = {r[0] for r in db.execute("SELECT id FROM documents")}
        chunks = {r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id IN "
                                           "(SELECT id FROM documents)")}  # fmt: skip
        db.execute("COMMIT")
    return docs, chunks


def repair(settings: Settings, embed: Callable[[], Embed] | None = None) -> DoctorReport:
    """Repair what can be rebuilt, then check again: the report's problems are what is left.

    `embed` gives the embedding function when some chunk needs a vector (default: the
    engine's embedder, loaded only then)."""
    from rag.engine import Engine

    if settings.backend == "cluster":
        return _repair_cluster(settings)
    root = settings.store_dir
    before = diagnose(settings)
    codes = {p.code for p in before.found if p.repairable}
    if not codes or {"sqlite_corrupt", "embedder_mismatch"} & {p.code for p in before.problems}:
        return before  # nothing to do, or nothing derived could be trusted to rebuild
    _, dim = read_embedder(root)
    done: list[str] = []
    with Engine(settings) as engine, engine.store.writing(settings.write_wait):
        if codes & STORE_CODES:
            embedding = embed or (lambda: engine.embedder.embed_passages)
            done += repair_store(root, dim, embedding, codes)
        if codes - STORE_CODES:
            done += _repair_graph(engine, "graph_corrupt" in codes)
    after = diagnose(settings)
    after.repaired = done
    return after


def _repair_graph(engine: Engine, corrupt: bool) -> list[str]:
    """Drop the graph rows of documents gone or changed, extract what is missing (with the
    settings' graph mode), and resolve the graph again from the stored extractions."""
    from graph.store import DB_FILE as GRAPH_FILE
    from rag.graphing import builder_for

    settings = engine.settings
    root = settings.store_dir
    done: list[str] = []
    if corrupt:  # the engine has not opened it yet: it starts again empty
        for suffix in ("", "-wal", "-shm"):
            (root / (GRAPH_FILE + suffix)).unlink(missing_ok=True)
        done.append(f"removed the unreadable {GRAPH_FILE}")
    docs, chunks = _ids(root)
    redo = docs_to_redo(root, docs, chunks)
    for doc_id in sorted(redo):
        engine.graph_store.remove_doc(doc_id)
    if redo:
        done.append(f"removed the graph rows of {len(redo)} documents")
    report = engine.sync_graph(vectors_now=False)  # None when the settings keep no graph
    if report is not None and report.added:
        done.append(f"extracted {report.added} documents into the graph")
    # resolving needs no extractor or model: vectors of new names wait for the next search
    builder = builder_for(engine.graph_store, lambda: engine.embedder, "fast",
                          lambda: engine.generator, vectors_now=False)  # fmt: skip
    ents, rels, comms = builder.rebuild()
    done.append(
        f"resolved the graph again ({ents} entities, {rels} relations, {comms} communities)"
    )
    return done


# A kill between an ingest's steps leaves these, and the next ingest resumes from them: documents
# stored but not yet in the graph, a resolved graph behind its extractions, the cache file of a
# generation before the last commit (no reader loads it). Reported, repaired, but no failure.
UNFINISHED = frozenset({"graph_missing_docs", "graph_stale", "stale_vector_cache"})

# the problems `ingest.store.doctor` finds; the rest are the graph's
STORE_CODES = frozenset({
    "document_chunks", "orphan_chunks", "missing_vectors", "bad_vectors", "unused_vectors",
    "missing_keywords", "orphan_keywords", "keyword_index_corrupt", "stale_keywords",
    "stale_vector_cache", "future_vector_cache", "vector_cache_corrupt", "vector_cache_dim", "vector_cache_missing",
    "vector_cache_extra", "vector_cache_stale", "sqlite_corrupt", "embedder_mismatch",
})  # fmt: skip
