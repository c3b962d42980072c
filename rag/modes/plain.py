"""Plain RAG: the passages hybrid (or dense, or BM25) retrieval ranks highest."""

from __future__ import annotations

from rag.modes.base import Context, Query, Services


def context(services: Services, query: Query) -> Context:
    hits = services.retrieve(
        query.question, k=query.k or services.top_k, method=query.method, filters=query.filters
    )
    step: dict[str, object] = {"step": "retrieve", "method": query.method}
    if translation := services.translation(query.question):  # cached: no second model call
        step["translation"] = translation
    return Context(hits, trace=[step])
