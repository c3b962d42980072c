"""The embedded `DenseIndex`: FAISS over the vectors SQLite holds, cached per generation.

The FAISS file (`vectors-<generation>.faiss`) is a cache derived from the SQLite rows. An index
is good for exactly one generation: a reader whose snapshot is at another generation than the
cached index (another process wrote) rebuilds it from its snapshot's rows, and our own writes
update the cached index in place while readers are held off (see `database.py`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ingest.atomic import disk_full, sweep_temp_files
from ingest.errors import DiskFull
from ingest.ports import Scored
from ingest.store.database import Database, filter_sql
from ingest.types import SearchFilter
from ingest.vector_index import FaissIndex, VectorIndex

log = logging.getLogger(__name__)

_VECTORS = "SELECT c.rowid, e.vector FROM chunks c JOIN embeddings e ON e.text_hash = c.text_hash"
REBUILD_BATCH = 8192  # rows a vector-cache rebuild reads at a time (12 MB of 384-d vectors)


class FaissDenseIndex:
    def __init__(self, db: Database, root: Path, dim: int) -> None:
        self._db, self._root, self._dim = db, root, dim
        self._index: VectorIndex | None = None
        self._gen = -1
        self._lock = threading.Lock()  # one rebuild at a time; the cache swaps whole

    def search(self, query: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[Scored]:
        with self._db.snapshot():
            allowed: set[int] | None = None
            if flt is not None and not flt.empty:
                cond, args = filter_sql(flt)
                allowed = {r[0] for r in self._db.rows(
                    f"SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {cond}",
                    args)}  # fmt: skip
            ranked = self.index().search(query, k, allowed)
            return self._ids(ranked)

    def _ids(self, ranked: Sequence[tuple[int, float]]) -> list[Scored]:
        rows = dict(self._db.rows(
            "SELECT rowid, id FROM chunks WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps([r for r, _ in ranked]),)))  # fmt: skip
        return [(rows[r], s) for r, s in ranked if r in rows]

    def index(self) -> VectorIndex:
        """The index for the caller's generation: cached in memory, on disk, or rebuilt."""
        gen = self._db.generation()
        with self._lock:
            if self._index is not None and self._gen == gen:
                return self._index
            path = self._root / f"vectors-{gen}.faiss"
            try:
                index: VectorIndex = FaissIndex.load(path)
            except (OSError, RuntimeError):  # absent, or replaced by a newer generation
                index = self._rebuild()
                self._save_rebuilt(index, path)
            if gen >= self._gen:  # never let an older snapshot's rebuild replace a newer cache
                self._index, self._gen = index, gen
            return index

    def __len__(self) -> int:
        with self._db.snapshot():
            return len(self.index())

    def _vectors(self, rowids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        sql = _VECTORS + " WHERE c.rowid IN (SELECT value FROM json_each(?))"
        return self._array(self._db.rows(sql, [json.dumps(list(rowids))]))

    def _array(self, rows: Sequence[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vecs.reshape(len(rows), self._dim)

    def _rebuild(self) -> VectorIndex:
        """Every chunk's vector, REBUILD_BATCH rows at a time from one statement (one
        consistent read): reading them all first held three copies of the vectors at once
        (the rows, their joined bytes, FAISS's own)."""
        index = FaissIndex(self._dim)
        with contextlib.closing(self._db.conn().execute(_VECTORS)) as rows:
            while batch := rows.fetchmany(REBUILD_BATCH):
                index.add(*self._array(batch))
        return index

    # --- after our own write, with readers held off -------------------------------------------

    def follow(self, gen_before: int, removed: Sequence[int], added: Sequence[int]) -> None:
        """Bring the cached index from `gen_before` to the next generation, not rebuild it."""
        with self._lock:
            if self._index is None or self._gen != gen_before:
                self._index, self._gen = None, -1
                return
            self._index.remove(removed)
            if added:
                self._index.add(*self._vectors(added))
            self._gen = gen_before + 1

    def _save_rebuilt(self, index: VectorIndex, path: Path) -> None:
        """Keep a rebuild for the next process. It is of the caller's snapshot; should a write
        have moved on meanwhile, the file is stale and the next write's `save` removes it.

        A reader that cannot write the cache (a read-only store, a full disk: FAISS reports
        that as a RuntimeError) still answers; it just rebuilds each time."""
        try:
            index.save(path)
        except (OSError, RuntimeError, DiskFull) as e:
            log.info("could not cache the vector index at %s: %s", path, e)

    def save(self, build: bool = True) -> None:
        """After a write: save the index for the current generation, drop older files and the
        temp files of saves that were killed.

        With `build` False (a delete, which needs no vectors) only an index already in memory
        is saved; otherwise the next reader rebuilds it from SQLite and caches it.

        The file is only a cache of rows already committed, so on a full disk the write that
        called this has still happened: the `DiskFull` raised says so, and searches rebuild
        the index from SQLite until a later save finds space."""
        with self._db.snapshot():
            gen = self._db.generation()
            target = self._root / f"vectors-{gen}.faiss"
            with self._lock:
                index = self._index if self._gen == gen else None
            if index is None and build and not target.exists():
                index = self.index()
            if index is not None and not target.exists():
                try:
                    index.save(target)
                except DiskFull as e:
                    what = ("the documents are stored, but there is no space left to write their "
                            f"vector index cache {target}; searches rebuild it meanwhile")  # fmt: skip
                    raise disk_full(target, e.__cause__ or e, what) from e
        for old in self._root.glob("vectors-*.faiss"):
            if old != target:
                old.unlink(missing_ok=True)
        sweep_temp_files(self._root)
