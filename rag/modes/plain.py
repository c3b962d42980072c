"""Plain RAG: the passages hybrid (or dense, or BM25) retrieval ranks highest."""

from __future__ import annotations

from rag.modes.base import Context, Query, Services


def context(services: Services, query: Query) -> Context:
    hits = services.retrieve(
        query.question, k=query.k or services.top_k, method=query.method, filters=query.filters
    )
    return Context(hits, trace=[{"step": "retrieve", "method": query.method}])
