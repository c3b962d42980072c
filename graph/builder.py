"""Keeping the graph in step with the chunk store.

`sync` compares the documents the graph has with those the store has: new ones are
extracted, gone ones dropped, and the resolved graph — entities, relations, communities,
name vectors — is rebuilt from the stored extractions of the documents that are done.

Extraction, the costly part, is committed as it goes — fast results a batch of chunks at a
time, then each LLM-refined chunk — and never runs twice for the same chunk: a sync killed
hours into `--graph llm` resumes where it stopped. With an LLM, the fast pass over all new
documents comes first (it ranks chunks for the `top:N` budget) and the plan of chunks to
refine is stored, so a resumed run asks the LLM for exactly the chunks it had not yet done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from graph.communities import Summarise, build_communities, report_vector_text
from graph.extract.base import Extractor
from graph.ports import GraphStore
from graph.resolution import EmbedNames, resolve_streaming
from graph.types import ChunkText, Community, Entity, RelationTable
from ingest.hashing import content_id

log = logging.getLogger(__name__)

# a document's chunks in reading order; called again each time they are walked, so a store
# can stream them rather than hold a large document's text in memory
ChunksOf = Callable[[str], Iterable[ChunkText]]


def entity_has_vector(entity: Entity, degree: int) -> bool:
    """Entities seen once with few links are found by name only: embedding the long tail of
    one-off names cost more than the rest of the graph build."""
    return len(entity.chunk_ids) >= 2 or degree >= 3


Progress = Callable[[int, int], None]

# Fast extractions are committed FAST_BATCH chunks at a time. Measured on the demo corpus
# (72 chunks): the fast extractor takes a median 12 ms a chunk but a mean of 57 ms (jieba's
# POS tagging of Chinese: up to 0.8 s on one chunk), a commit (WAL, synchronous=NORMAL)
# 0.2 ms. At 64 chunks commits cost under 0.01 % of the pass and a crash loses a few seconds
# of it; committing every chunk would cost little more, but would make a large ingest's
# fast pass thousands of transactions for nothing.
FAST_BATCH = 64


@dataclass
class _NewDoc:
    """A document this sync extracts, with what an interrupted sync already stored of it."""

    doc_id: str
    chunk_ids: list[str]  # in reading order; the texts are read again when needed
    texts: Callable[[], Iterable[ChunkText]]
    counts: dict[str, int]  # chunk id → entities in its stored extraction
    pending: set[str]  # chunks an interrupted LLM run planned and has not refined yet

    @classmethod
    def of(cls, store: GraphStore, doc_id: str, chunks_of: ChunksOf) -> _NewDoc:
        stored = {e.chunk_id: len(e.entities) for e in store.extractions_of(doc_id)}
        ids = [c.chunk_id for c in chunks_of(doc_id)]
        return cls(doc_id, ids, lambda: chunks_of(doc_id), stored, store.pending_refinement(doc_id))

    def chunks(self, wanted: Callable[[str], bool]) -> Iterator[ChunkText]:
        return (c for c in self.texts() if wanted(c.chunk_id))


class _Ticker:
    """Counts steps done towards a total fixed up front, reporting each to `progress`."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


def embed_missing(
    store: GraphStore, embed: EmbedNames, texts: Sequence[str], have: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Embed, once each, the texts whose content id is not in `have`, and cache them in the
    store; returns the new vectors by content id."""
    missing = sorted({content_id(t): t for t in texts if content_id(t) not in have}.items())
    if not missing:
        return {}
    vecs = embed([t for _, t in missing])
    new = {h: np.asarray(v, np.float32) for (h, _), v in zip(missing, vecs, strict=True)}
    store.put_vectors(new)
    return new


def vector_texts(
    entities: Sequence[Entity], relations: RelationTable, communities: Sequence[Community]
) -> list[str]:
    """The texts graph search matches questions against: names worth a vector, report heads."""
    degree: dict[str, int] = {}
    for r in relations:
        degree[r.source] = degree.get(r.source, 0) + 1
        degree[r.target] = degree.get(r.target, 0) + 1
    names = [e.name for e in entities if entity_has_vector(e, degree.get(e.id, 0))]
    return names + [t for c in communities if (t := report_vector_text(c))]


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
        vectors_now: bool = True,
    ) -> None:
        """`vectors_now=False` leaves the vectors of new entity names and reports to the next
        `GraphIndex` load: a delete then rebuilds the graph without loading the embedder."""
        self.store, self.extractor, self.llm = store, extractor, llm
        self.embed, self.summarise, self.vectors_now = embed, summarise, vectors_now

    def sync(
        self, present: set[str], chunks_of: ChunksOf, progress: Progress | None = None
    ) -> SyncReport:
        """Bring the graph in step with `present`; `progress(done, total)` counts the
        extraction steps still to do in this call (fast chunks, then LLM calls), so a resumed
        sync's bar starts at zero of what is left."""
        t0 = time.perf_counter()
        have = self.store.doc_ids()
        new = sorted(present - have)
        # an interrupted sync's half-done documents count as had: deleted or changed since
        # (a changed file is a new document id), their partial rows go too
        gone = sorted((have | self.store.unfinished_doc_ids()) - present)
        for doc_id in gone:
            self.store.remove_doc(doc_id)
        self._extract([_NewDoc.of(self.store, d, chunks_of) for d in new], progress)
        t1 = time.perf_counter()
        stale = new or gone or self.store.needs_rebuild() or self.store.generation() == 0
        counts = self.rebuild() if stale else None
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

    def _extract(self, docs: list[_NewDoc], progress: Progress | None) -> None:
        """Fast-extract what is not stored yet, then (with an LLM) plan and refine; every
        step is committed as it goes, and a document is done once its last one is."""
        # documents an interrupted LLM run already planned keep that plan; the rest share
        # one budget, as in an uninterrupted run
        fresh = [d for d in docs if not d.pending]
        n_fresh = sum(len(d.chunk_ids) for d in fresh)
        n_llm = 0
        if self.llm is not None:
            n_llm = sum(len(d.pending) for d in docs) + min(n_fresh, self.llm.top or n_fresh)
        tick = _Ticker(progress, sum(len(d.chunk_ids) - len(d.counts) for d in docs) + n_llm)
        for d in docs:
            self._extract_fast(d, tick)
        if self.llm is None:
            return
        chosen = self._choose(fresh)
        for d in fresh:
            if d.doc_id not in chosen:  # nothing for the LLM: the fast extraction is final
                self.store.put_extractions(d.doc_id, [], done_by=self._name)
        self.store.plan_refinement(chosen)
        for d in docs:
            todo = d.pending or set(chosen.get(d.doc_id, ()))
            if todo:
                self._refine(d, todo, tick)

    def _extract_fast(self, doc: _NewDoc, tick: _Ticker) -> None:
        """A batch of FAST_BATCH chunks' texts at a time: a 200 MB file's text is never all
        in memory; the batch that holds the last chunk marks the document done."""
        n_missing = sum(1 for c in doc.chunk_ids if c not in doc.counts)
        last = self._name if self.llm is None else None  # with an LLM, done after refining
        batch: list[ChunkText] = []
        for seen, chunk in enumerate(doc.chunks(lambda cid: cid not in doc.counts), 1):
            batch.append(chunk)
            if len(batch) == FAST_BATCH or seen == n_missing:
                exs = self.extractor.extract(batch)
                done_by = last if seen == n_missing else None
                self.store.put_extractions(doc.doc_id, exs, done_by=done_by)
                doc.counts.update((e.chunk_id, len(e.entities)) for e in exs)
                tick(len(exs))
                batch = []
        if not n_missing and last is not None:
            self.store.put_extractions(doc.doc_id, [], done_by=last)

    def _choose(self, docs: list[_NewDoc]) -> dict[str, list[str]]:
        """The chunks for the LLM: the `top` with most fast-extracted entities, or all."""
        assert self.llm is not None
        ranked = sorted(
            ((d.counts[c], d.doc_id, i) for d in docs for i, c in enumerate(d.chunk_ids)),
            key=lambda t: (-t[0], t[1], t[2]),
        )
        chunks = {d.doc_id: d.chunk_ids for d in docs}
        chosen: dict[str, list[str]] = {}
        for _, doc_id, i in ranked if self.llm.top is None else ranked[: self.llm.top]:
            chosen.setdefault(doc_id, []).append(chunks[doc_id][i])
        return chosen

    def _refine(self, doc: _NewDoc, todo: set[str], tick: _Ticker) -> None:
        """One LLM call per chunk, each result committed at once: an LLM call takes seconds,
        a commit well under a millisecond, so batching would only lose work to a crash."""
        assert self.llm is not None
        fast = {e.chunk_id: e for e in self.store.extractions_of(doc.doc_id)}
        n_todo = sum(1 for c in doc.chunk_ids if c in todo)
        if not n_todo:  # a plan naming no chunk of the document must not keep it unfinished
            self.store.put_extractions(doc.doc_id, [], done_by=self._name)
        for n, chunk in enumerate(doc.chunks(todo.__contains__), 1):
            result = self.llm.extractor.extract([chunk])[0]
            keep = result if result.entities else fast[chunk.chunk_id]  # empty: keep the fast one
            done_by = self._name if n == n_todo else None
            self.store.put_extractions(doc.doc_id, [keep], done_by=done_by)
            tick()

    def rebuild(self) -> tuple[int, int, int]:
        """Resolve all stored extractions into the graph; returns the counts. The relations
        stay on disk beside the store while the rebuild walks them (`graph.relation_spill`)."""
        embed = self._embed_cached if self.embed is not None else None
        with resolve_streaming(
            self.store.iter_extractions, embed, self.store.scratch_dir()
        ) as resolved:
            communities, fresh = build_communities(
                resolved.entities, resolved.relations, self.store.reports, self.summarise
            )
            if fresh:
                self.store.put_reports(fresh)
            if embed is not None and self.vectors_now:
                embed(vector_texts(resolved.entities, resolved.relations, communities))
            self.store.replace_graph(resolved.entities, resolved.relations, communities)
            return len(resolved.entities), len(resolved.relations), len(communities)

    def _embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of entity names and reports, computed once per distinct text."""
        assert self.embed is not None
        hashes = [content_id(t) for t in texts]
        have = self.store.vectors(hashes)
        have.update(embed_missing(self.store, self.embed, texts, have))
        return np.stack([have[h] for h in hashes]) if hashes else np.zeros((0, 0), np.float32)
