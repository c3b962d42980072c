"""`RagRetriever`: a LlamaIndex retriever answered by the engine's modes over our store.

What a LlamaIndex app gets back is what `Engine.context` ranked, in its order, each chunk as a
`TextNode` (id = chunk id) in a `NodeWithScore`. The node's metadata says where the chunk comes
from; of it, the LLM sees only document, title and location (page, section), because a
response synthesizer prints every visible key into the prompt and ids or paths would crowd out
the passages; embedding sees the title and section.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    ObjectType,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import MetadataFilters

from ingest.types import ChunkHit, SearchFilter
from rag.choices import GraphStrategy, ModeName, RetrievalMethod
from rag.engine import Engine
from rag.integrations.llamaindex.filters import to_search_filter

LLM_KEYS = ("document", "title", "location")
EMBED_KEYS = ("title", "section")


class RagRetriever(BaseRetriever):
    """Retrieve with one of the engine's modes: "rag" (hybrid passages), "graph" (with a
    strategy: local, global, ppr, hybrid) or "kag". `similarity_top_k` is the number of
    passages (default: the store's RAG_TOP_K), `method` the retrieval method of plain retrieval
    steps, `filters` a `MetadataFilters` (see `filters.py` for what it may say) or our
    `SearchFilter`. Bad choices raise `ConfigError`, and unsupported filters `UsageError`,
    here rather than at the first question."""

    def __init__(
        self,
        engine: Engine,
        *,
        mode: ModeName = "rag",
        strategy: GraphStrategy | None = None,
        similarity_top_k: int | None = None,
        method: RetrievalMethod | None = None,
        filters: MetadataFilters | SearchFilter | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(callback_manager=callback_manager, verbose=verbose)
        self.engine = engine
        self.filters = to_search_filter(filters)
        self._query = engine.query(
            "", mode=mode, strategy=strategy, k=similarity_top_k, method=method,
            filters=self.filters,
        )  # fmt: skip
        self._owns_engine = False

    @classmethod
    def from_store(
        cls, store: str | Path | None = None, *, mode: ModeName = "rag",
        strategy: GraphStrategy | None = None, similarity_top_k: int | None = None,
        method: RetrievalMethod | None = None, filters: MetadataFilters | SearchFilter | None = None,
        **settings: Any,
    ) -> RagRetriever:  # fmt: skip
        """A retriever over the store at `store` (default: RAG_STORE), settings read from the
        environment as the CLI reads them, `settings` overriding them (`embedder="e5"`).
        `close()` closes the engine it opened."""
        engine = Engine.open(store, **settings)
        try:
            retriever = cls(
                engine, mode=mode, strategy=strategy, similarity_top_k=similarity_top_k,
                method=method, filters=filters,
            )  # fmt: skip
        except BaseException:
            engine.close()
            raise
        retriever._owns_engine = True
        return retriever

    @property
    def mode(self) -> ModeName:
        return self._query.mode

    @property
    def similarity_top_k(self) -> int:
        assert self._query.k is not None  # Engine.query fills it in
        return self._query.k

    def close(self) -> None:
        if self._owns_engine:
            self.engine.close()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        context = self.engine.context(replace(self._query, question=query_bundle.query_str))
        return [node_of(hit, self.mode) for hit in context.hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # the engine is synchronous (SQLite, FAISS, a local model): a worker thread keeps the
        # event loop free while it works, and the Engine is safe to share between threads
        return await asyncio.to_thread(self._retrieve, query_bundle)


def node_of(hit: ChunkHit, mode: str) -> NodeWithScore:
    """One ranked chunk as LlamaIndex's node: our fields win over the document's own metadata
    of the same name, which stays in the store (and in `rag docs --json`)."""
    chunk, doc = hit.chunk, hit.document
    ours: dict[str, Any] = {
        "document": doc.name, "source": doc.source, "doc_id": doc.id, "title": doc.title,
        "chunk_id": chunk.id, "mode": mode, "location": hit.location,
    }  # fmt: skip
    if chunk.page is not None:
        ours["page"] = chunk.page
    if chunk.heading_path:
        ours["section"] = chunk.section
    metadata = {**doc.metadata, **ours}
    node = TextNode(
        id_=chunk.id,
        text=chunk.text,
        metadata=metadata,
        excluded_llm_metadata_keys=[k for k in metadata if k not in LLM_KEYS or not metadata[k]],
        excluded_embed_metadata_keys=[k for k in metadata if k not in EMBED_KEYS],
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(
                node_id=doc.id, node_type=ObjectType.DOCUMENT, metadata={"document": doc.name}
            )
        },
    )
    return NodeWithScore(node=node, score=hit.score)
