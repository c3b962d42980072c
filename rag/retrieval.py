"""Retrievers over the store: dense (e5), keyword (BM25 via FTS5), and hybrid (RRF of both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from ingest.embedding import Embedder
from ingest.keywords import keyword_tokens
from ingest.store import Store
from ingest.types import ChunkHit, SearchFilter

METHODS = ("dense", "bm25", "hybrid")


class Retriever(Protocol):
    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]: ...


class DenseRetriever:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store, self.embedder = store, embedder

    def ranked(self, query: str, k: int, flt: SearchFilter | None) -> list[tuple[int, float]]:
        allowed = self.store.allowed_rowids(flt)
        index = self.store.vector_index()
        return index.search(self.embedder.embed_query(query), k, allowed)

    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]:
        return self.store.hits(self.ranked(query, k, flt))


class KeywordRetriever:
    def __init__(self, store: Store) -> None:
        self.store = store

    def ranked(self, query: str, k: int, flt: SearchFilter | None) -> list[tuple[int, float]]:
        return self.store.keyword_search(keyword_tokens(query), k, self.store.allowed_rowids(flt))

    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]:
        return self.store.hits(self.ranked(query, k, flt))


K = TypeVar("K", int, str)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[K, float]]], k: int = 60
) -> list[tuple[K, float]]:
    """Fuse ranked lists by Σ 1/(k + rank): robust to the retrievers' incomparable scores."""
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, (key, _score) in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class HybridRetriever:
    def __init__(
        self,
        dense: DenseRetriever,
        keyword: KeywordRetriever,
        rrf_k: int = 60,
        candidates: int = 50,
    ) -> None:
        self.dense, self.keyword = dense, keyword
        self.rrf_k, self.candidates = rrf_k, candidates

    def retrieve(self, query: str, k: int, flt: SearchFilter | None = None) -> list[ChunkHit]:
        n = max(k, self.candidates)
        fused = reciprocal_rank_fusion(
            [self.dense.ranked(query, n, flt), self.keyword.ranked(query, n, flt)], self.rrf_k
        )
        return self.dense.store.hits(fused[:k])


def make_retriever(
    method: str, store: Store, embedder: Embedder, rrf_k: int = 60, candidates: int = 50
) -> Retriever:
    if method == "dense":
        return DenseRetriever(store, embedder)
    if method == "bm25":
        return KeywordRetriever(store)
    if method == "hybrid":
        return HybridRetriever(
            DenseRetriever(store, embedder), KeywordRetriever(store), rrf_k, candidates
        )
    raise ValueError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")
