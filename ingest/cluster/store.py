"""`ClusterStore`: the `ingest.ports.Store` over PostgreSQL (the record) and Milvus (the indexes).

A write is one PostgreSQL transaction: the document's rows, its vectors, and in `index_outbox`
the Milvus work it implies. After the commit the outbox is applied to Milvus and cleared, while
this process's readers are held off (as the embedded store holds them off while FAISS follows a
commit). Should the process die in between, PostgreSQL still says what Milvus lacks: the next
write, the next open for writing, or `rag doctor` applies it. So Milvus is a derived index,
never the record, as FAISS is in the embedded store.

Writers: one thread in this process (an RLock), one process per knowledge base (a PostgreSQL
advisory lock held on a connection of its own), the same rule as the embedded store's lock file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ingest.cluster.milvus import MilvusIndexes, to_scored
from ingest.cluster.postgres import PgChunkStore, PgDatabase, _safe
from ingest.errors import DocumentNotFound, EmbedderMismatch, StoreLocked, StoreNotFound
from ingest.ports import ChunkBatch, Scored
from ingest.types import Chunk, DocumentInfo, SearchFilter

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 5.0
OUTBOX_BATCH = 2_000  # outbox rows applied to Milvus at a time
# Inside a longer write (an ingest of many files holds `writing()` around its documents) the
# outbox is applied every DEFER_ROWS chunks or DEFER_S seconds, and when the hold ends, rather
# than after each document: one Milvus call costs about as much as a small document's
# PostgreSQL transaction. Until then this process's searches lag the committed documents.
DEFER_ROWS = 1_000
DEFER_S = 2.0


@dataclass(frozen=True)
class ClusterTarget:
    """Where a cluster knowledge base lives: a PostgreSQL URL, a Milvus URI and its name."""

    postgres_url: str
    milvus_uri: str
    name: str = "default"

    def describe(self) -> str:
        return (
            f"cluster {self.name} (PostgreSQL {_safe(self.postgres_url)}, Milvus {self.milvus_uri})"
        )


class MilvusDense:
    def __init__(self, store: ClusterStore) -> None:
        self._s = store

    def search(self, query: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[Scored]:
        with self._s.reading():
            docs = (
                self._s.chunks.doc_ids_passing(flt) if flt is not None and not flt.empty else None
            )
            ranked = self._s.milvus.search_dense(query, k, docs)
            return to_scored(ranked, self._s.chunks.ids_of([pk for pk, _ in ranked]))


class MilvusKeywords:
    def __init__(self, store: ClusterStore) -> None:
        self._s = store

    def search(self, query: str, k: int, flt: SearchFilter | None = None) -> list[Scored]:
        if not query.strip():
            return []
        with self._s.reading():
            docs = (
                self._s.chunks.doc_ids_passing(flt) if flt is not None and not flt.empty else None
            )
            ranked = self._s.milvus.search_keywords(query, k, docs)
            return to_scored(ranked, self._s.chunks.ids_of([pk for pk, _ in ranked]))


class ClusterStore:
    """Documents, chunks and vectors in PostgreSQL; dense and BM25 search in Milvus."""

    def __init__(
        self, target: ClusterTarget, *, embedder_name: str, dim: int, create: bool = True
    ) -> None:
        self.target = target
        self._db = PgDatabase(target.postgres_url, target.name)
        try:
            self._check_or_create(embedder_name, dim, create)
            self.milvus = MilvusIndexes(target.milvus_uri, target.name, dim)
            if create:
                self.milvus.create()
            elif not self.milvus.exists():
                self.milvus.create()  # a lost derived index: rebuilt from PostgreSQL below
        except BaseException:
            self._db.close()
            raise
        self._chunks = PgChunkStore(self._db)
        self._dense = MilvusDense(self)
        self._keywords = MilvusKeywords(self)
        self._writer = threading.RLock()
        self._write_depth = 0
        self._lock_conn: Any = None
        self._unapplied = 0  # outbox rows this process wrote and has not applied (about)
        self._applied_at = time.monotonic()
        if self.pending() and create:
            with self.writing():
                pass  # a write that died before reaching Milvus: finished on the way in

    def _check_or_create(self, embedder_name: str, dim: int, create: bool) -> None:
        db = self._db
        if not db.exists():
            if not create:
                raise StoreNotFound(
                    f"no knowledge base {self.target.name!r} in {self.target.describe()}; "
                    "run `RAG_BACKEND=cluster rag ingest PATH` or `rag migrate --to cluster`"
                )
            db.create()
        with db.transaction() as conn:  # the manifest, in the record
            conn.execute(
                "INSERT INTO meta VALUES ('embedder', %s), ('dim', %s) ON CONFLICT DO NOTHING",
                (embedder_name, str(dim)),
            )
        name, stored_dim = db.meta("embedder"), db.meta("dim")
        if name != embedder_name or stored_dim != str(dim):
            raise EmbedderMismatch(
                f"{self.target.describe()} was built with embedder {name} (dim {stored_dim}), "
                f"not {embedder_name} (dim {dim}); use the same embedder or another RAG_CLUSTER_NAME"
            )

    @property
    def location(self) -> str:
        return self.target.describe()

    @property
    def chunks(self) -> PgChunkStore:
        return self._chunks

    @property
    def dense(self) -> MilvusDense:
        return self._dense

    @property
    def keywords(self) -> MilvusKeywords:
        return self._keywords

    def close(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.close()
            self._lock_conn = None
        self._db.close()
        self.milvus.close()

    def reading(self) -> AbstractContextManager[None]:
        return self._db.snapshot()

    @contextmanager
    def writing(self, wait: float | None = None) -> Iterator[None]:
        """One writer thread in this process and one process per knowledge base; the
        outermost hold applies the outbox when it starts (another writer's leftovers)."""
        timeout = DEFAULT_WAIT_S if wait is None else wait
        if not self._writer.acquire(timeout=timeout):
            raise StoreLocked(
                f"another writer in this process is writing to {self.location} (waited "
                f"{timeout:g} s); wait for it to finish"
            )
        try:
            if self._write_depth == 0:
                self._take_lock(timeout)
            self._write_depth += 1
            finished = False
            try:
                if self._write_depth == 1:
                    self.apply_outbox()
                yield
                finished = True
            finally:
                try:
                    if self._write_depth == 1 and self._unapplied:
                        self._apply_deferred(finished)
                finally:
                    self._write_depth -= 1
                    if self._write_depth == 0:
                        self._release_lock()
        finally:
            self._writer.release()

    def _apply_deferred(self, finished: bool) -> None:
        """The outbox a long write deferred, applied as it ends, also when it stopped early (a
        cancelled ingest): the documents it did commit become searchable now, not at the next
        write. A failure here is raised unless the write already failed with its own error."""
        try:
            with self._db.lock.exclusive():
                self.apply_outbox()
        except Exception:
            if finished:
                raise
            log.warning("Milvus not brought up to date after a failed write: the next write or "
                        "`rag doctor --repair` will", exc_info=True)  # fmt: skip

    def _take_lock(self, timeout: float) -> None:
        conn = self._db.connect_extra()
        key = f"rag-write:{self.target.name}"
        deadline = time.monotonic() + timeout
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
            if row and row[0]:
                self._lock_conn = conn
                return
            if time.monotonic() >= deadline:
                conn.close()
                raise StoreLocked(
                    f"another process is writing to {self.location} (waited {timeout:g} s); "
                    "wait for it to finish or pass --wait SECONDS"
                )
            time.sleep(0.05)

    def _release_lock(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.close()  # closing the session releases its advisory lock
            self._lock_conn = None

    # --- writes ---------------------------------------------------------------------------

    def put_document(
        self,
        doc: DocumentInfo,
        chunks: Sequence[Chunk],
        texts: Sequence[str],
        vectors: Mapping[str, np.ndarray],
    ) -> None:
        self.write_document(doc, [ChunkBatch(chunks, texts, vectors)])

    def write_document(self, doc: DocumentInfo, batches: Iterable[ChunkBatch]) -> DocumentInfo:
        with self.writing(), ExitStack() as readers_held:
            added = 0
            with self._db.transaction() as db:
                old = PgChunkStore.source_doc(db, doc.source)
                gone: set[str] = set()
                if old:
                    _, gone = PgChunkStore.delete(db, old)
                for batch in batches:
                    if len(batch.texts) != len(batch.chunks):
                        raise ValueError(
                            f"{len(batch.chunks)} chunks but {len(batch.texts)} indexed texts"
                        )
                    added += len(
                        PgChunkStore.insert_chunks(db, batch.chunks, batch.texts, batch.vectors)
                    )
                written = replace(doc, n_chunks=added)
                PgChunkStore.insert_document(db, written)
                PgChunkStore.gc_embeddings(db, gone)
                self._unapplied += added + 1
                defer = self._may_defer()
                if not defer:
                    readers_held.enter_context(self._db.lock.exclusive())
            if not defer:
                self.apply_outbox()
        return written

    def _may_defer(self) -> bool:
        """Whether the outbox may wait: inside a longer write, not too much, not too long."""
        return (
            self._write_depth > 1
            and self._unapplied < DEFER_ROWS
            and time.monotonic() - self._applied_at < DEFER_S
        )

    def delete_document(self, doc_id: str) -> None:
        with self.writing(), self._db.lock.exclusive():
            with self._db.transaction() as db:
                if (
                    db.execute("SELECT 1 FROM documents WHERE id = %s", (doc_id,)).fetchone()
                    is None
                ):
                    raise DocumentNotFound(f"no document with id {doc_id}")
                _, gone = PgChunkStore.delete(db, doc_id)
                PgChunkStore.gc_embeddings(db, gone)
            self.apply_outbox()

    # --- keeping Milvus in step -----------------------------------------------------------------

    def pending(self) -> int:
        """Outbox rows not yet applied to Milvus."""
        return int(self._db.rows("SELECT COUNT(*) FROM index_outbox")[0][0])

    def apply_outbox(self) -> int:
        """Bring Milvus up to PostgreSQL: index the queued chunks that still exist, drop the
        rest, then clear what was applied. Idempotent (upserts and deletes by key)."""
        applied = 0
        while True:
            queued = self._db.rows(
                "SELECT pk, op FROM index_outbox ORDER BY pk LIMIT %s", (OUTBOX_BATCH,)
            )
            if not queued:
                self._unapplied, self._applied_at = 0, time.monotonic()
                return applied
            pks = [int(pk) for pk, _ in queued]
            rows = self._db.rows(
                "SELECT c.pk, c.doc_id, c.indexed_text, e.vector FROM chunks c "
                "JOIN embeddings e ON e.text_hash = c.text_hash WHERE c.pk = ANY(%s)",
                (pks,),
            )
            present = {int(r[0]) for r in rows}
            if gone := [pk for pk in pks if pk not in present]:
                self.milvus.delete(gone)
            self.milvus.upsert([(int(pk), d, t, bytes(v)) for pk, d, t, v in rows])
            self._db.rows("DELETE FROM index_outbox WHERE pk = ANY(%s) RETURNING pk", (pks,))
            applied += len(pks)

    def reindex(self, progress: Any = None) -> tuple[int, int]:
        """Compare every key Milvus holds with PostgreSQL's chunks and repair both ways:
        returns (rows indexed, rows dropped). What `rag doctor --repair` runs."""
        with self.writing():
            self.apply_outbox()
            in_milvus = set(self.milvus.pks())
            in_pg = {int(r[0]) for r in self._db.rows("SELECT pk FROM chunks")}
            extra = sorted(in_milvus - in_pg)
            missing = sorted(in_pg - in_milvus)
            self.milvus.delete(extra)
            for i in range(0, len(missing), OUTBOX_BATCH):
                part = missing[i : i + OUTBOX_BATCH]
                rows = self._db.rows(
                    "SELECT c.pk, c.doc_id, c.indexed_text, e.vector FROM chunks c "
                    "JOIN embeddings e ON e.text_hash = c.text_hash WHERE c.pk = ANY(%s)",
                    (part,),
                )
                self.milvus.upsert([(int(pk), d, t, bytes(v)) for pk, d, t, v in rows])
            return len(missing), len(extra)

    def index_gap(self) -> tuple[int, int, int]:
        """(chunks PostgreSQL has that Milvus lacks, keys Milvus has that PostgreSQL does not,
        outbox rows pending): all zero on a healthy pair."""
        in_milvus = set(self.milvus.pks())
        in_pg = {int(r[0]) for r in self._db.rows("SELECT pk FROM chunks")}
        return len(in_pg - in_milvus), len(in_milvus - in_pg), self.pending()


def drop(target: ClusterTarget) -> None:
    """Delete a cluster knowledge base: its schema (graph tables included) and its collection."""
    from psycopg import sql

    db = PgDatabase(target.postgres_url, target.name)
    try:
        db.conn().execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(target.name))
        )
    finally:
        db.close()
    milvus = MilvusIndexes(target.milvus_uri, target.name, 1)
    try:
        milvus.drop()
    finally:
        milvus.close()


def stored_embedder(target: ClusterTarget) -> tuple[str, int]:
    """The embedder a cluster knowledge base was built with, without loading it (the cheap
    commands need no model), as `read_embedder` reads an embedded store's manifest."""
    db = PgDatabase(target.postgres_url, target.name)
    try:
        if not db.exists():
            raise StoreNotFound(
                f"no knowledge base {target.name!r} in {target.describe()}; "
                "run `RAG_BACKEND=cluster rag ingest PATH` or `rag migrate --to cluster`"
            )
        return str(db.meta("embedder")), int(db.meta("dim") or 0)
    finally:
        db.close()
