"""The LlamaIndex side of `rag bench --against llamaindex`: a plain `VectorStoreIndex` over its
default in-memory `SimpleVectorStore`, fed our chunker's chunks as `TextNode`s and our `Embedder`
as its embedding model, so that only the pipeline around the chunks and vectors differs.

This module imports llama-index-core at the top; `rag.bench_against.llamaindex_side()` imports it
only when a run asks for it and turns the extra's absence into one MissingDependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import llama_index.core
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import TextNode
from pydantic import PrivateAttr

from ingest.embedding import Embedder
from rag.bench_measure import BenchChunk, Ranked

VERSION = str(llama_index.core.__version__)
PASSAGE = "passage"  # node metadata: the dataset passage a chunk came from


class EmbedderEmbedding(BaseEmbedding):
    """Our `Embedder` as a LlamaIndex embedding model. The Embedder adds e5's "query: " and
    "passage: " prefixes itself, so LlamaIndex's vectors are the ones our store holds."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, embed_batch_size: int) -> None:
        super().__init__(model_name=embedder.name, embed_batch_size=embed_batch_size)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "EmbedderEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._embedder.embed_query(query)]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self._embedder.embed_passages(texts)]


class LlamaIndexSide:
    """A VectorStoreIndex built from the chunks, and its retriever at depth `k`."""

    name = "llamaindex"

    def __init__(self, chunks: Sequence[BenchChunk], embedder: Embedder, *, batch: int, k: int):
        # the passage id rides along as metadata but is kept out of the embedded text, which is
        # exactly the text our store embeds (title and section, then the chunk)
        nodes = [
            TextNode(id_=c.id, text=c.text, metadata={PASSAGE: c.passage},
                     excluded_embed_metadata_keys=[PASSAGE], excluded_llm_metadata_keys=[PASSAGE])
            for c in chunks
        ]  # fmt: skip
        self.index = VectorStoreIndex(nodes, embed_model=EmbedderEmbedding(embedder, batch))
        self._retriever = self.index.as_retriever(similarity_top_k=k)

    def __len__(self) -> int:
        return len(self.index.index_struct.nodes_dict)

    def retrieve(self, question: str) -> Ranked:
        return [(n.node.node_id, str(n.node.metadata[PASSAGE])) for n in self._retriever.retrieve(question)]  # fmt: skip

    def persist(self, folder: Path) -> None:
        """What a user writes to keep the index: the storage context as JSON files."""
        self.index.storage_context.persist(persist_dir=str(folder))
