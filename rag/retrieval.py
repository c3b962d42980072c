"""Retrievers over the store: dense (e5), keyword (BM25 via FTS5), and hybrid (RRF of both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from ingest.embedding import Embedder
from ingest.errors import ConfigError
from ingest.ports import Scored, Store
from ingest.types import ChunkHit, SearchFilter
from rag.choices import FUSIONS, RETRIEVAL_METHODS
from rag.modes.registry import check_method

METHODS = RETRIEVAL_METHODS


class Retriever(Protocol):
    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]: ...


class DenseRetriever:
    """e5 query vector → the store's dense index."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store, self.embedder = store, embedder

    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]:
        vec = self.embedder.embed_query(query)  # before the read: no lock held while embedding
        with self.store.reading():
            return self.store.chunks.hits(self.store.dense.search(vec, k, flt))


class KeywordRetriever:
    """The question's words → the store's BM25 keyword index."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def ranked(self, query: str, k: int, flt: SearchFilter | None) -> list[Scored]:
        return self.store.keywords.search(query, k, flt)

    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]:
        with self.store.reading():
            return self.store.chunks.hits(self.ranked(query, k, flt))


K = TypeVar("K", int, str)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[K, float]]],
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse ranked lists by Σ w/(k + rank): robust to the retrievers' incomparable scores."""
    scores: dict[K, float] = {}
    for ranking, w in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, (key, _score) in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def weighted_fusion(
    dense: Sequence[Scored], keyword: Sequence[Scored], weight: float
) -> list[Scored]:
    """Cosine plus `weight` × BM25 scaled to [0, 1] by the best keyword score.

    A candidate only one retriever found gets the other's floor (the lowest dense score among
    the candidates, or 0 for BM25), so it can still win on the score it has.
    """
    dense_s = dict(dense)
    floor = min(dense_s.values(), default=0.0)
    kw = dict(keyword)
    top = max(kw.values(), default=0.0) or 1.0
    fused = {
        i: dense_s.get(i, floor) + weight * kw.get(i, 0.0) / top for i in dense_s.keys() | kw.keys()
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


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

    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]:
        n = max(k, self.candidates)
        store = self.dense.store
        vec = self.dense.embedder.embed_query(query)
        with store.reading():  # both rankings and the hits from one generation
            dense, keyword = store.dense.search(vec, n, flt), self.keyword.ranked(query, n, flt)
            if self.fusion == "rrf":
                fused = reciprocal_rank_fusion([dense, keyword])
            else:
                fused = weighted_fusion(dense, keyword, self.weight)
            return store.chunks.hits(_first_seen_ties(fused, dense, keyword)[:k])


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
