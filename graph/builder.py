"""Keeping the graph in step with the chunk store.

`sync` compares the documents the graph has with those the store has: new ones are
extracted (one transaction per document), gone ones dropped, and the resolved graph —
entities, relations, communities, name vectors — is rebuilt from the stored extractions.
Extraction, the costly part, never runs twice for the same document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from graph.communities import Summarise, build_communities, report_vector_text
from graph.extract.base import Extractor
from graph.resolution import EmbedNames, resolve
from graph.store import GraphStore
from graph.types import ChunkText, Entity, Extraction
from ingest.hashing import content_id

log = logging.getLogger(__name__)

ChunksOf = Callable[[str], list[ChunkText]]


def entity_has_vector(entity: Entity, degree: int) -> bool:
    """Entities seen once with few links are found by name only: embedding the long tail of
    one-off names cost more than the rest of the graph build."""
    return len(entity.chunk_ids) >= 2 or degree >= 3


Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SyncReport:
    added: int
    removed: int
    entities: int
    relations: int
    communities: int
    extract_s: float
    resolve_s: float


@dataclass
class LLMBudget:
    """Send only the N densest chunks (most fast-extracted entities) to the LLM extractor."""

    extractor: Extractor
    top: int | None = None  # None: every chunk


class GraphBuilder:
    def __init__(
        self,
        store: GraphStore,
        extractor: Extractor,
        *,
        llm: LLMBudget | None = None,
        embed: EmbedNames | None = None,
        summarise: Summarise | None = None,
    ) -> None:
        self.store, self.extractor, self.llm = store, extractor, llm
        self.embed, self.summarise = embed, summarise

    def sync(
        self, present: set[str], chunks_of: ChunksOf, progress: Progress | None = None
    ) -> SyncReport:
        t0 = time.perf_counter()
        have = self.store.doc_ids()
        new, gone = sorted(present - have), sorted(have - present)
        for doc_id in gone:
            self.store.remove_doc(doc_id)
        docs = {d: chunks_of(d) for d in new}
        extracted = self._extract(docs, progress)
        for doc_id in new:
            self.store.put_doc(doc_id, self._name, extracted[doc_id])
        t1 = time.perf_counter()
        counts = self.rebuild() if (new or gone or self.store.generation() == 0) else None
        t2 = time.perf_counter()
        ents, rels, comms = counts or (
            len(self.store.entities()),
            len(self.store.relations()),
            len(self.store.communities()),
        )
        return SyncReport(len(new), len(gone), ents, rels, comms, t1 - t0, t2 - t1)

    @property
    def _name(self) -> str:
        return self.extractor.name if self.llm is None else f"{self.extractor.name}+llm"

    def _extract(
        self, docs: dict[str, list[ChunkText]], progress: Progress | None
    ) -> dict[str, list[Extraction]]:
        total = sum(len(c) for c in docs.values())
        out: dict[str, list[Extraction]] = {}
        done = 0
        for doc_id, chunks in docs.items():
            out[doc_id] = self.extractor.extract(chunks)
            done += len(chunks)
            if progress:
                progress(done, total)
        if self.llm is not None:
            self._refine_with_llm(docs, out)
        return out

    def _refine_with_llm(
        self, docs: dict[str, list[ChunkText]], out: dict[str, list[Extraction]]
    ) -> None:
        assert self.llm is not None
        ranked = sorted(
            (
                (len(ex.entities), doc_id, i)
                for doc_id, exs in out.items()
                for i, ex in enumerate(exs)
            ),
            key=lambda t: (-t[0], t[1], t[2]),
        )
        chosen = ranked if self.llm.top is None else ranked[: self.llm.top]
        for _, doc_id, i in chosen:
            result = self.llm.extractor.extract([docs[doc_id][i]])[0]
            if result.entities:  # an empty LLM answer keeps the fast extraction
                out[doc_id][i] = result

    def rebuild(self) -> tuple[int, int, int]:
        """Resolve all stored extractions into the graph; returns the counts."""
        embed = self._embed_cached if self.embed is not None else None
        resolved = resolve(self.store.extractions(), embed)
        communities, fresh = build_communities(
            resolved.entities, resolved.relations, self.store.reports, self.summarise
        )
        if fresh:
            self.store.put_reports(fresh)
        if embed is not None:
            degree: dict[str, int] = {}
            for r in resolved.relations:
                degree[r.source] = degree.get(r.source, 0) + 1
                degree[r.target] = degree.get(r.target, 0) + 1
            names = [e.name for e in resolved.entities if entity_has_vector(e, degree.get(e.id, 0))]
            reports = [t for c in communities if (t := report_vector_text(c))]
            embed(names + reports)
        self.store.replace_graph(resolved.entities, resolved.relations, communities)
        return len(resolved.entities), len(resolved.relations), len(communities)

    def _embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of entity names and reports, computed once per distinct text."""
        assert self.embed is not None
        hashes = [content_id(t) for t in texts]
        have = self.store.vectors(hashes)
        missing = sorted(
            {h: t for h, t in zip(hashes, texts, strict=True) if h not in have}.items()
        )
        if missing:
            vecs = self.embed([t for _, t in missing])
            new = {h: np.asarray(v, np.float32) for (h, _), v in zip(missing, vecs, strict=True)}
            self.store.put_vectors(new)
            have.update(new)
        return np.stack([have[h] for h in hashes]) if hashes else np.zeros((0, 0), np.float32)
