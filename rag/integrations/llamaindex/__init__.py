"""The engine inside a LlamaIndex application: a retriever, an LLM, and document ingestion.

    from llama_index.core.query_engine import RetrieverQueryEngine
    from rag.integrations.llamaindex import RagLLM, RagRetriever

    retriever = RagRetriever.from_store("./kb", similarity_top_k=4)
    query_engine = RetrieverQueryEngine.from_args(retriever, llm=RagLLM(retriever.engine))

llama-index-core is an optional extra (`pip install -e ".[llamaindex]"`): importing `rag` or
`rag.integrations` never imports it, and importing this package without it installed raises
`MissingDependency` with that command rather than a bare ImportError.

Nothing here reaches the network: LlamaIndex's own defaults would (its `Settings.llm` and
`Settings.embed_model` resolve to OpenAI), so every object here is built with ours instead.
"""

from __future__ import annotations

from ingest.errors import MissingDependency

try:
    import llama_index.core  # noqa: F401
except ModuleNotFoundError as e:  # only a missing llama_index; a broken install stays visible
    if not (e.name or "").startswith("llama_index"):
        raise
    raise MissingDependency(
        "the LlamaIndex integration needs llama-index-core, which is not installed: "
        'run `pip install -e ".[llamaindex]"` in the project directory'
    ) from e

from rag.integrations.llamaindex.documents import ingest_documents, record_of
from rag.integrations.llamaindex.filters import to_search_filter
from rag.integrations.llamaindex.llm import RagLLM
from rag.integrations.llamaindex.retriever import RagRetriever, node_of

__all__ = ["RagLLM", "RagRetriever", "ingest_documents", "node_of", "record_of", "to_search_filter"]
