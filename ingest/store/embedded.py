"""The embedded store: one directory holding SQLite (documents, chunks, vectors, FTS5 keyword
index), a FAISS cache of the vectors, and a manifest naming the embedder.

Consistency comes from SQLite: each document is written or deleted in one transaction that
covers its rows, its vectors and its keyword entries, so a process killed mid-ingest leaves
every earlier document whole and no later one half-written. A large document is one
transaction too, however many batches its chunks come in (`write_document`). The FAISS file is a cache named by
the store's generation counter; a reader whose cache is stale rebuilds it in memory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ingest.errors import DocumentNotFound, StoreLocked
from ingest.ports import ChunkBatch
from ingest.store.chunks import SqliteChunkStore
from ingest.store.database import DB_FILE, Database
from ingest.store.faiss_dense import FaissDenseIndex
from ingest.store.fts5 import Fts5KeywordIndex
from ingest.store.manifest import check_or_create
from ingest.types import Chunk, DocumentInfo

DEFAULT_WAIT_S = 5.0  # a second writer waits this long for the lock before failing
LOCK_FILE = ".write.lock"


class EmbeddedStore:
    """Documents, chunks, vectors and the keyword index of one store directory."""

    def __init__(self, root: Path, *, embedder_name: str, dim: int, create: bool = True) -> None:
        self.root = Path(root)
        check_or_create(self.root, embedder_name, dim, create)
        self._db = Database(self.root / DB_FILE)
        self._chunks = SqliteChunkStore(self._db)
        self._dense = FaissDenseIndex(self._db, self.root, dim)
        self._keywords = Fts5KeywordIndex(self._db)
        self._keywords.ensure_current()
        self._file_lock = FileLock(str(self.root / LOCK_FILE))
        self._added_vectors = False  # by the current write: save() builds the index then
        self._writer = threading.RLock()  # the file lock only keeps other processes out
        self._write_depth = 0

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def chunks(self) -> SqliteChunkStore:
        return self._chunks

    @property
    def dense(self) -> FaissDenseIndex:
        return self._dense

    @property
    def keywords(self) -> Fts5KeywordIndex:
        return self._keywords

    def close(self) -> None:
        self._db.close()

    def reading(self) -> AbstractContextManager[None]:
        return self._db.snapshot()

    @contextmanager
    def writing(self, wait: float | None = None) -> Iterator[None]:
        """Hold the write lock: one writer thread in this process, one process per store.

        Re-entrant on one thread (a delete then syncs the graph inside the same hold); the
        outermost hold saves the vector cache when it ends."""
        timeout = DEFAULT_WAIT_S if wait is None else wait
        if not self._writer.acquire(timeout=timeout):
            raise StoreLocked(
                f"another writer in this process is writing to {self.root} (waited "
                f"{timeout:g} s); wait for it to finish"
            )
        try:
            if self._write_depth == 0:
                try:
                    self._file_lock.acquire(timeout=timeout)
                except Timeout as e:
                    raise StoreLocked(
                        f"another process is writing to {self.root} (waited {timeout:g} s); "
                        f"wait for it to finish or pass --wait SECONDS (lock file "
                        f"{self.root / LOCK_FILE})"
                    ) from e
                self._added_vectors = False
            self._write_depth += 1
            try:
                yield
                if self._write_depth == 1:
                    self._dense.save(build=self._added_vectors)
            finally:
                self._write_depth -= 1
                if self._write_depth == 0:
                    self._file_lock.release()
        finally:
            self._writer.release()

    def put_document(
        self,
        doc: DocumentInfo,
        chunks: Sequence[Chunk],
        texts: Sequence[str],
        vectors: Mapping[str, np.ndarray],
    ) -> None:
        self.write_document(doc, [ChunkBatch(chunks, texts, vectors)])

    def write_document(self, doc: DocumentInfo, batches: Iterable[ChunkBatch]) -> DocumentInfo:
        """One SQLite transaction from the first batch to the document row, which goes in last.

        The batches are made (parsed, embedded) while the transaction is open, which can take
        minutes for a large file, so readers are not held off meanwhile: they read the last
        commit on their own connections (WAL), with the vector cache of that commit. Only the
        commit and the cache update that follows it hold them off, as every write does."""
        added: list[int] = []
        with ExitStack() as readers_held:
            with self._db.transaction() as db:
                gen = self._db.generation()  # inside: no other process commits until we do
                old = SqliteChunkStore.source_doc(db, doc.source)
                removed, gone = self._delete(db, old) if old else ([], set())
                for batch in batches:
                    if len(batch.texts) != len(batch.chunks):
                        raise ValueError(
                            f"{len(batch.chunks)} chunks but {len(batch.texts)} indexed texts"
                        )
                    rowids = SqliteChunkStore.insert_chunks(db, batch.chunks, batch.vectors)
                    Fts5KeywordIndex.add(db, rowids, batch.texts)
                    added += rowids
                written = replace(doc, n_chunks=len(added))
                SqliteChunkStore.insert_document(db, written)
                SqliteChunkStore.gc_embeddings(db, gone)
                readers_held.enter_context(self._db.lock.exclusive())  # released after follow
            self._dense.follow(gen, removed, added)
            self._added_vectors = self._added_vectors or bool(added)
        return written

    def delete_document(self, doc_id: str) -> None:
        with self._db.lock.exclusive():
            with self._db.transaction() as db:
                gen = self._db.generation()
                if db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
                    raise DocumentNotFound(f"no document with id {doc_id}")
                removed, gone = self._delete(db, doc_id)
                SqliteChunkStore.gc_embeddings(db, gone)
            self._dense.follow(gen, removed, [])

    @staticmethod
    def _delete(db: sqlite3.Connection, doc_id: str) -> tuple[list[int], set[str]]:
        rowids, hashes = SqliteChunkStore.delete(db, doc_id)
        Fts5KeywordIndex.remove(db, rowids)
        return rowids, hashes
