"""Resumable extraction: a sync that dies part-way keeps what it committed, the next one asks
the extractors only for what is missing, and the graph comes out as if nothing had happened."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import graph.builder as builder_module
from graph.builder import GraphBuilder, LLMBudget
from graph.extract.base import Extractor
from graph.extract.fast import FastExtractor
from graph.extract.llm import LLMExtractor
from graph.store import SqliteGraphStore
from graph.types import ChunkText, Extraction
from ingest.embedding import HashingEmbedder
from rag.engine import Engine
from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings
from tests.fake_openai import extraction_reply


class Killed(Exception):
    """Stands in for SIGKILL: raised from inside an extractor, it unwinds the sync."""


class Counting:
    """Wraps an extractor, records every chunk it is asked for, and dies after `crash_after`."""

    def __init__(self, inner: Extractor, crash_after: int | None = None) -> None:
        self.inner, self.crash_after = inner, crash_after
        self.asked: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def extract(self, chunks: Sequence[ChunkText]) -> list[Extraction]:
        if self.crash_after is not None and len(self.asked) + len(chunks) > self.crash_after:
            raise Killed
        self.asked += [c.chunk_id for c in chunks]
        return self.inner.extract(chunks)


class Memo:
    """The real fast extractor, remembering its answers: jieba takes most of a second on some
    Chinese chunks, and every test here extracts the demo corpus two or three times."""

    name = "fast"
    _seen: ClassVar[dict[str, Extraction]] = {}  # shared by every test in this module

    def extract(self, chunks: Sequence[ChunkText]) -> list[Extraction]:
        todo = [c for c in chunks if c.chunk_id not in self._seen]
        self._seen.update((e.chunk_id, e) for e in FastExtractor().extract(todo))
        return [self._seen[c.chunk_id] for c in chunks]


def _llm() -> LLMExtractor:
    def reply(messages: list[Message]) -> str:
        return extraction_reply(str(messages[-1]["content"]))

    return LLMExtractor(ScriptedGenerator(reply))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[ChunkText]]:
    """The demo corpus's chunks by document, from a real ingest (graph off)."""
    root = tmp_path_factory.mktemp("resume")
    settings = Settings.from_env(
        {"HOME": str(root)}, store_dir=root / "kb", embedder="hashing", graph="off"
    )
    with Engine(settings, embedder=HashingEmbedder(), generator=ScriptedGenerator("ok")) as e:
        e.ingest([Path(__file__).resolve().parents[2] / "corpora" / "demo"])
        return {
            d.id: [ChunkText(c.id, c.doc_id, c.text) for c in e.chunks(d.id)] for d in e.documents()
        }


def _sync(
    store: SqliteGraphStore,
    corpus: dict[str, list[ChunkText]],
    fast: Extractor,
    llm: Extractor | None = None,
    top: int | None = None,
    docs: set[str] | None = None,
) -> None:
    budget = LLMBudget(llm, top) if llm is not None else None
    present = set(corpus) if docs is None else docs
    GraphBuilder(store, fast, llm=budget).sync(present, corpus.__getitem__)


def _graph(store: SqliteGraphStore) -> tuple[object, ...]:
    return (
        [(e.id, e.name, e.type, e.aliases, e.chunk_ids) for e in store.entities()],
        [(r.id, r.weight, r.keywords, r.chunk_ids) for r in store.relations()],
        [(c.level, c.entity_ids) for c in store.communities()],
    )


def _uninterrupted(tmp: Path, corpus: dict[str, list[ChunkText]], **kw: object) -> object:
    store = SqliteGraphStore(tmp / "uninterrupted")
    _sync(store, corpus, Memo(), **kw)  # type: ignore[arg-type]
    return _graph(store)


def test_killed_llm_run_resumes_with_only_the_unrefined_chunks(
    tmp_path: Path, corpus: dict[str, list[ChunkText]]
) -> None:
    store = SqliteGraphStore(tmp_path / "g")
    dying = Counting(_llm(), crash_after=20)
    with pytest.raises(Killed):
        _sync(store, corpus, Memo(), dying)
    total = sum(len(c) for c in corpus.values())
    done, started = store.doc_ids(), store.unfinished_doc_ids()
    assert done and started and not done & started  # killed part-way through the documents
    rows = {d: {e.chunk_id: e.extractor for e in store.extractions_of(d)} for d in corpus}
    assert sum(len(r) for r in rows.values()) == total  # the fast pass was committed whole
    for d in done:  # a done document holds every chunk, each refined
        assert set(rows[d]) == {c.chunk_id for c in corpus[d]} and set(rows[d].values()) == {"llm"}
    assert sum(v == "llm" for r in rows.values() for v in r.values()) == 20
    # what the graph is resolved from: the done documents only
    assert {e.chunk_id for e in store.extractions()} == {c for d in done for c in rows[d]}

    resumed = Counting(_llm())
    _sync(store, corpus, Memo(), resumed)
    not_refined = {c for r in rows.values() for c, v in r.items() if v != "llm"}
    assert len(resumed.asked) == total - 20 and set(resumed.asked) == not_refined
    assert store.doc_ids() == set(corpus) and not store.unfinished_doc_ids()
    assert _graph(store) == _uninterrupted(tmp_path, corpus, llm=_llm())


def test_top_n_budget_is_kept_across_a_resume(
    tmp_path: Path, corpus: dict[str, list[ChunkText]]
) -> None:
    whole = Counting(_llm())
    want = _uninterrupted(tmp_path, corpus, llm=whole, top=12)
    store = SqliteGraphStore(tmp_path / "g")
    with pytest.raises(Killed):
        _sync(store, corpus, Memo(), Counting(_llm(), crash_after=5), top=12)
    resumed = Counting(_llm())
    _sync(store, corpus, Memo(), resumed, top=12)
    # the same 12 chunks as in one run, not 12 more chosen among the documents left
    assert len(resumed.asked) == 7 and set(resumed.asked) < set(whole.asked)
    assert _graph(store) == want


def test_killed_fast_run_resumes_by_batch(
    tmp_path: Path, corpus: dict[str, list[ChunkText]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder_module, "FAST_BATCH", 4)
    store = SqliteGraphStore(tmp_path / "g")
    sizes = [len(corpus[d]) for d in sorted(corpus)]  # the order sync extracts them in
    j = next(i for i, n in enumerate(sizes) if i and n >= 9)
    dying = Counting(Memo(), crash_after=sum(sizes[:j]) + 5)  # in doc j's 2nd batch
    with pytest.raises(Killed):
        _sync(store, corpus, dying)
    stored = {e.chunk_id for d in corpus for e in store.extractions_of(d)}
    assert stored == set(dying.asked) and len(stored) == sum(sizes[:j]) + 4
    assert len(store.doc_ids()) == j and store.unfinished_doc_ids() == {sorted(corpus)[j]}
    resumed = Counting(Memo())
    _sync(store, corpus, resumed)
    assert not stored & set(resumed.asked)
    assert len(resumed.asked) == sum(len(c) for c in corpus.values()) - len(stored)
    assert _graph(store) == _uninterrupted(tmp_path, corpus)


def test_a_document_deleted_while_half_extracted_leaves_nothing(
    tmp_path: Path, corpus: dict[str, list[ChunkText]]
) -> None:
    store = SqliteGraphStore(tmp_path / "g")
    with pytest.raises(Killed):
        _sync(store, corpus, Memo(), Counting(_llm(), crash_after=20))
    half = sorted(store.unfinished_doc_ids())[0]
    assert store.extractions_of(half) and store.pending_refinement(half)
    rest = set(corpus) - {half}
    _sync(store, corpus, Memo(), _llm(), docs=rest)
    assert store.extractions_of(half) == [] and store.pending_refinement(half) == set()
    assert store.doc_ids() == rest and not store.unfinished_doc_ids()
    assert _graph(store) == _uninterrupted(tmp_path, {d: corpus[d] for d in rest}, llm=_llm())


def test_a_crash_while_resolving_is_repaired_by_the_next_sync(
    tmp_path: Path, corpus: dict[str, list[ChunkText]]
) -> None:
    def embed_dies(texts: list[str]) -> np.ndarray:
        raise Killed

    store = SqliteGraphStore(tmp_path / "g")
    with pytest.raises(Killed):
        GraphBuilder(store, Memo(), embed=embed_dies).sync(set(corpus), corpus.__getitem__)
    assert store.doc_ids() == set(corpus) and store.entities() == []  # extracted, not resolved
    assert store.needs_rebuild()
    report = GraphBuilder(store, Memo()).sync(set(corpus), corpus.__getitem__)
    assert report.added == 0 and report.entities > 50 and not store.needs_rebuild()
    assert _graph(store) == _uninterrupted(tmp_path, corpus)


def test_progress_counts_what_is_left(tmp_path: Path, corpus: dict[str, list[ChunkText]]) -> None:
    store = SqliteGraphStore(tmp_path / "g")
    first: list[tuple[int, int]] = []
    with pytest.raises(Killed):
        GraphBuilder(store, Memo(), llm=LLMBudget(Counting(_llm(), crash_after=20))).sync(
            set(corpus), corpus.__getitem__, lambda done, total: first.append((done, total))
        )
    total = sum(len(c) for c in corpus.values())
    assert first[-1] == (total + 20, 2 * total)  # all fast steps and 20 LLM calls of `total`
    again: list[tuple[int, int]] = []
    GraphBuilder(store, Memo(), llm=LLMBudget(_llm())).sync(
        set(corpus), corpus.__getitem__, lambda done, total: again.append((done, total))
    )
    assert again[0] == (1, total - 20) and again[-1] == (total - 20, total - 20)
    assert [d for d, _ in again] == list(range(1, total - 19))
