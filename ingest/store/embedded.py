"""The embedded store: one directory holding SQLite (documents, chunks, vectors, FTS5 keyword
index), a FAISS cache of the vectors, and a manifest naming the embedder.

Consistency comes from SQLite: each document is written or deleted in one transaction that
covers its rows, its vectors and its keyword entries, so a process killed mid-ingest leaves
every earlier document whole and no later one half-written. The FAISS file is a cache named by
the store's generation counter; a reader whose cache is stale rebuilds it in memory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ingest.errors import DocumentNotFound, StoreLocked
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
        if len(texts) != len(chunks):
            raise ValueError(f"{len(chunks)} chunks but {len(texts)} indexed texts")
        with self._db.lock.exclusive():
            with self._db.transaction() as db:
                gen = self._db.generation()  # inside: no other process commits until we do
                old = SqliteChunkStore.source_doc(db, doc.source)
                removed = self._delete(db, old) if old else []
                added = SqliteChunkStore.insert(db, doc, chunks, vectors)
                Fts5KeywordIndex.add(db, added, texts)
                SqliteChunkStore.gc_embeddings(db)
            self._dense.follow(gen, removed, added)
            self._added_vectors = self._added_vectors or bool(added)

    def delete_document(self, doc_id: str) -> None:
        with self._db.lock.exclusive():
            with self._db.transaction() as db:
                gen = self._db.generation()
                if db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
                    raise DocumentNotFound(f"no document with id {doc_id}")
                removed = self._delete(db, doc_id)
                SqliteChunkStore.gc_embeddings(db)
            self._dense.follow(gen, removed, [])

    @staticmethod
    def _delete(db: sqlite3.Connection, doc_id: str) -> list[int]:
        rowids = SqliteChunkStore.delete(db, doc_id)
        Fts5KeywordIndex.remove(db, rowids)
        return rowids
