"""An in-memory `GraphStore`: the fake the contract tests hold the SQLite one to.

Dicts under one re-entrant lock; each write replaces what it touches in one step, as a
transaction would. It is what a backend must provide, and no more.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from graph.types import Community, Entity, Extraction, Relation, RelationTable


class MemoryGraphStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._extractions: dict[str, tuple[str, Extraction]] = {}  # chunk id → (doc id, ex)
        self._pending: dict[str, str] = {}  # chunk id → doc id
        self._done: dict[str, str] = {}  # doc id → extractor
        self._stale = False
        self._generation = 0
        self._entities: list[Entity] = []
        self._relations: list[Relation] = []
        self._communities: list[Community] = []
        self._reports: dict[str, tuple[str, str]] = {}
        self._vectors: dict[str, np.ndarray] = {}

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._lock:
            yield

    def close(self) -> None:
        pass

    # --- extraction layer -------------------------------------------------------------------

    def doc_ids(self) -> set[str]:
        return set(self._done)

    def unfinished_doc_ids(self) -> set[str]:
        with self._lock:
            docs = {d for d, _ in self._extractions.values()} | set(self._pending.values())
            return docs - self._done.keys()

    def put_extractions(
        self, doc_id: str, extractions: Sequence[Extraction], *, done_by: str | None = None
    ) -> None:
        with self._lock:
            for ex in extractions:
                self._extractions[ex.chunk_id] = (doc_id, ex)
                self._pending.pop(ex.chunk_id, None)
            if done_by is not None:
                self._pending = {c: d for c, d in self._pending.items() if d != doc_id}
                self._done[doc_id] = done_by
                self._stale = True

    def plan_refinement(self, chosen: Mapping[str, Iterable[str]]) -> None:
        with self._lock:
            self._pending.update({c: d for d, chunk_ids in chosen.items() for c in chunk_ids})

    def pending_refinement(self, doc_id: str) -> set[str]:
        with self._lock:
            return {c for c, d in self._pending.items() if d == doc_id}

    def remove_doc(self, doc_id: str) -> None:
        with self._lock:
            self._extractions = {c: v for c, v in self._extractions.items() if v[0] != doc_id}
            self._pending = {c: d for c, d in self._pending.items() if d != doc_id}
            self._done.pop(doc_id, None)
            self._stale = True

    def extractions(self) -> list[Extraction]:
        with self._lock:
            return [ex for c, (d, ex) in sorted(self._extractions.items()) if d in self._done]

    def iter_extractions(self) -> Iterator[Extraction]:
        yield from self.extractions()

    def extractions_of(self, doc_id: str) -> list[Extraction]:
        with self._lock:
            return [ex for c, (d, ex) in sorted(self._extractions.items()) if d == doc_id]

    def needs_rebuild(self) -> bool:
        return self._stale

    # --- resolved layer ----------------------------------------------------------------------

    def replace_graph(
        self,
        entities: Sequence[Entity],
        relations: RelationTable,
        communities: Sequence[Community],
    ) -> None:
        with self._lock:
            self._entities = sorted(entities, key=lambda e: e.id)
            self._relations = sorted(relations, key=lambda r: r.id)
            self._communities = sorted(communities, key=lambda c: (c.level, c.id))
            self._generation += 1
            self._stale = False

    def scratch_dir(self) -> Path | None:
        return None

    def generation(self) -> int:
        return self._generation

    def entities(self) -> list[Entity]:
        with self._lock:
            return [_sorted_chunks(e) for e in self._entities]

    def relations(self) -> list[Relation]:
        with self._lock:
            return [_sorted_chunks(r) for r in self._relations]

    def communities(self) -> list[Community]:
        with self._lock:
            return list(self._communities)

    def entities_of_chunks(self, chunk_ids: Iterable[str]) -> dict[str, list[str]]:
        wanted = set(chunk_ids)
        out: dict[str, list[str]] = {}
        with self._lock:
            for e in self._entities:
                for c in e.chunk_ids:
                    if c in wanted:
                        out.setdefault(c, []).append(e.id)
        return out

    # --- caches keyed by content ---------------------------------------------------------------

    def reports(self, ids: Iterable[str]) -> dict[str, str]:
        with self._lock:
            return {i: self._reports[i][0] for i in ids if i in self._reports}

    def put_reports(self, reports: dict[str, tuple[str, str]]) -> None:
        with self._lock:
            self._reports.update(reports)

    def vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        with self._lock:
            return {h: self._vectors[h] for h in hashes if h in self._vectors}

    def put_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._vectors.update({h: np.asarray(v, np.float32) for h, v in vectors.items()})


T = TypeVar("T", Entity, Relation)


def _sorted_chunks(item: T) -> T:
    """Chunk ids in id order, as the SQLite store returns them."""
    return replace(item, chunk_ids=tuple(sorted(item.chunk_ids)))
