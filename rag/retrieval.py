"""Retrievers over the store: dense (e5), keyword (BM25 via FTS5), and hybrid (`rag.fusion` of both).

Each takes an optional translation of the question (rag.crosslingual): then every candidate
chunk is scored by the version of the question in its own language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from ingest.embedding import Embedder
from ingest.errors import ConfigError
from ingest.hygiene import BOILERPLATE_KINDS
from ingest.language import Language, language_of
from ingest.ports import Scored, Store
from ingest.types import ChunkHit, SearchFilter
from rag.choices import FUSIONS, RETRIEVAL_METHODS
from rag.crosslingual import by_language
from rag.fusion import reciprocal_rank_fusion, weighted_fusion
from rag.modes.registry import check_method

if TYPE_CHECKING:
    import numpy as np

METHODS = RETRIEVAL_METHODS
# candidates fetched beyond k, so that boilerplate ranked in the top k can give way to passages
BOILERPLATE_MARGIN = 20
Rankings = list[list[Scored]]  # the question's ranking, then its translation's when there is one


class Retriever(Protocol):
    def retrieve(
        self, query: str, k: int, flt: SearchFilter | None = None, translation: str | None = None
    ) -> list[ChunkHit]: ...


class DenseRetriever:
    """e5 query vector → the store's dense index."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store, self.embedder = store, embedder

    def vectors(self, query: str, translation: str | None) -> list[np.ndarray]:
        """The question's vector and its translation's (embedded before any read: no lock is
        held while embedding)."""
        return [self.embedder.embed_query(q) for q in (query, translation) if q]

    def rankings(self, vecs: list[np.ndarray], n: int, flt: SearchFilter | None) -> Rankings:
        return [self.store.dense.search(v, n, flt) for v in vecs]

    def retrieve(
        self, query: str, k: int, flt: SearchFilter | None = None, translation: str | None = None
    ) -> list[ChunkHit]:
        vecs = self.vectors(query, translation)
        with self.store.reading():
            rankings = self.rankings(vecs, k + BOILERPLATE_MARGIN, flt)
            (ranked,) = _across(self.store, query, [("dense", rankings)])
            return content_first(self.store.chunks.hits(ranked), k)


class KeywordRetriever:
    """The question's words → the store's BM25 keyword index."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def rankings(
        self, query: str, translation: str | None, k: int, flt: SearchFilter | None
    ) -> Rankings:
        return [self.store.keywords.search(q, k, flt) for q in (query, translation) if q]

    def retrieve(
        self, query: str, k: int, flt: SearchFilter | None = None, translation: str | None = None
    ) -> list[ChunkHit]:
        with self.store.reading():
            rankings = self.rankings(query, translation, k + BOILERPLATE_MARGIN, flt)
            (ranked,) = _across(self.store, query, [("keyword", rankings)])
            return content_first(self.store.chunks.hits(ranked), k)


class HybridRetriever:
    """Dense and BM25 candidates fused by score.

    Measured on the three ../shared/datasets sets (docs/benchmarks.md), BM25 is far weaker
    than e5 there; equal-weight reciprocal rank fusion pulled recall@5 *below* dense alone
    (e.g. musique 0.578 vs 0.613), while a small keyword weight lifts every set a little
    above dense. The weight is a setting (`bm25_weight`).
    """

    def __init__(
        self,
        dense: DenseRetriever,
        keyword: KeywordRetriever,
        weight: float = 0.05,
        candidates: int = 50,
        fusion: str = "score",
    ) -> None:
        if fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        self.dense, self.keyword = dense, keyword
        self.weight, self.candidates, self.fusion = weight, candidates, fusion

    def retrieve(
        self, query: str, k: int, flt: SearchFilter | None = None, translation: str | None = None
    ) -> list[ChunkHit]:
        n = max(k, self.candidates)
        store = self.dense.store
        vecs = self.dense.vectors(query, translation)
        with store.reading():  # both rankings and the hits from one generation
            dense, keyword = _across(store, query, [
                ("dense", self.dense.rankings(vecs, n, flt)),
                ("keyword", self.keyword.rankings(query, translation, n, flt)),
            ])  # fmt: skip
            if self.fusion == "rrf":
                fused = reciprocal_rank_fusion([dense, keyword])
            else:
                fused = weighted_fusion(dense, keyword, self.weight)
            ranked = _first_seen_ties(fused, dense, keyword)[: k + BOILERPLATE_MARGIN]
            return content_first(store.chunks.hits(ranked), k)


def _across(
    store: Store, query: str, groups: list[tuple[Literal["dense", "keyword"], Rankings]]
) -> list[list[Scored]]:
    """Each group's one ranking, or its question's and translation's merged by chunk language
    (`by_language`); the candidates' languages are looked up once for all groups."""
    if all(len(rankings) == 1 for _, rankings in groups):
        return [rankings[0] for _, rankings in groups]
    ids = dict.fromkeys(c for _, rankings in groups for r in rankings for c, _ in r)
    language: dict[str, Language] = {
        h.chunk.id: language_of(h.chunk.text) for h in store.chunks.hits([(c, 0.0) for c in ids])
    }
    q_lang = language_of(query)
    return [by_language(r[0], r[1], language, q_lang, kind) for kind, r in groups]


def content_first(hits: list[ChunkHit], k: int) -> list[ChunkHit]:
    """The top `k` with boilerplate chunks (tables of contents, index pages: `ingest.hygiene`)
    after every real passage: kept for a question only they answer, never ahead of a passage."""
    real = [h for h in hits if h.chunk.kind not in BOILERPLATE_KINDS]
    return (real + [h for h in hits if h.chunk.kind in BOILERPLATE_KINDS])[:k]


def _first_seen_ties(
    fused: list[Scored], dense: Sequence[Scored], keyword: Sequence[Scored]
) -> list[Scored]:
    """Equal fused scores in the order the retrievers ranked them (dense first), not by id.

    RRF ties are common (rank r in one list only, against rank r in the other only). Chunk ids
    hash the source path, so an id order would rank the same corpus differently per folder."""
    seen = {cid: i for i, cid in enumerate(dict.fromkeys(c for c, _ in [*dense, *keyword]))}
    return sorted(fused, key=lambda kv: (-kv[1], seen[kv[0]]))


def make_retriever(
    method: str,
    store: Store,
    embedder: Embedder,
    bm25_weight: float = 0.05,
    candidates: int = 50,
    fusion: str = "score",
) -> Retriever:
    method = check_method(method)  # the registry's check and message
    if method == "dense":
        return DenseRetriever(store, embedder)
    if method == "bm25":
        return KeywordRetriever(store)
    return HybridRetriever(
        DenseRetriever(store, embedder), KeywordRetriever(store), bm25_weight, candidates, fusion
    )
