"""The `VectorIndex` seam: exact inner-product search over int64-keyed vectors.

`FaissIndex` is the real one; `NumpyIndex` is the brute-force reference the contract tests
hold it to. Both search only among `allowed` ids when a filter is given.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ingest.atomic import replacing


class VectorIndex(Protocol):
    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: Collection[int]) -> None: ...

    def search(
        self, query: np.ndarray, k: int, allowed: Collection[int] | None = None
    ) -> list[tuple[int, float]]: ...

    def save(self, path: Path) -> None: ...


class NumpyIndex:
    """Brute force over a dense matrix: the reference implementation."""

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._ids = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, dim), dtype=np.float32)

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
        self._vecs = np.vstack([self._vecs, np.asarray(vectors, dtype=np.float32)])

    def remove(self, ids: Collection[int]) -> None:
        keep = ~np.isin(self._ids, np.fromiter(ids, dtype=np.int64))
        self._ids, self._vecs = self._ids[keep], self._vecs[keep]

    def search(
        self, query: np.ndarray, k: int, allowed: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        scores = self._vecs @ np.asarray(query, dtype=np.float32)
        ids = self._ids
        if allowed is not None:
            mask = np.isin(ids, np.fromiter(allowed, dtype=np.int64))
            ids, scores = ids[mask], scores[mask]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def vector(self, id_: int) -> np.ndarray:
        return self._vecs[int(np.flatnonzero(self._ids == id_)[0])].copy()

    def save(self, path: Path) -> None:
        with replacing(path) as tmp, tmp.open("wb") as f:
            np.savez(f, ids=self._ids, vecs=self._vecs)


class FaissIndex:
    """A flat inner-product FAISS index behind an id map (exact search; fast to 100k+ chunks)."""

    def __init__(self, dim: int, index: Any = None) -> None:
        import faiss

        self._faiss: Any = faiss
        self._dim = dim
        self._index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        import faiss

        index = faiss.read_index(str(path))
        return cls(index.d, index)

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def ids(self) -> np.ndarray:
        """The ids held, in insertion order (what `rag doctor` compares with the chunk rows)."""
        return np.asarray(self._faiss.vector_to_array(self._index.id_map), dtype=np.int64)

    def vector(self, id_: int) -> np.ndarray:
        return np.asarray(self._index.reconstruct(int(id_)), dtype=np.float32)

    def remove(self, ids: Collection[int]) -> None:
        if ids:
            self._index.remove_ids(np.fromiter(ids, dtype=np.int64))

    def search(
        self, query: np.ndarray, k: int, allowed: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        _one_thread(self._faiss)
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        params = None
        if allowed is not None:
            if not allowed:
                return []
            selector = self._faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64))
            params = self._faiss.SearchParameters(sel=selector)
        scores, ids = self._index.search(q, min(k, len(self)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self, path: Path) -> None:
        # a temp file of its own: two processes may cache the same generation at once
        with replacing(path) as tmp:
            self._faiss.write_index(self._index, str(tmp))


_threads_set = False


def _one_thread(faiss: Any) -> None:
    """Search one query on one thread. FAISS's default (an OpenMP thread per core) costs more
    than the search itself: one exact query took 17 ms over 1k vectors and 35 ms over 10k with
    it, 0.9 ms and 1.7 ms on one thread (scripts/bench_scale.py; docs/benchmarks.md). A
    server's concurrent questions still use every core, one each."""
    global _threads_set
    if not _threads_set:
        faiss.omp_set_num_threads(1)
        _threads_set = True
