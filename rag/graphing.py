"""Wiring the knowledge graph to the engine's store, embedder and generator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from graph.builder import GraphBuilder, LLMBudget, SyncReport
from graph.communities import Summarise
from graph.extract.fast import FastExtractor
from graph.extract.llm import LLMExtractor
from graph.ports import GraphStore
from graph.types import ChunkText
from ingest.embedding import Embedder
from ingest.errors import ConfigError
from ingest.ports import ChunkStore
from rag.choices import GRAPH_MODES
from rag.generation.base import Generator, Message, complete
from rag.settings import llm_extract_budget


def parse_budget(spec: str | None) -> int | None:
    """ "top:N" → N chunks for the LLM extractor; "all" or None → every chunk.

    Settings already rejects a bad spec; this stays for callers that hold only the string."""
    return llm_extract_budget(spec)


def llm_summariser(gen: Generator) -> Summarise:
    def summarise(title: str, report: str) -> str:
        messages: list[Message] = [
            {"role": "system", "content": "Summarise what connects this group of entities in 2–3 "
             "sentences, using only the facts given. Write in the language of the facts."},
            {"role": "user", "content": f"Group: {title}\nFacts: {report}"},
        ]  # fmt: skip
        text = complete(gen, messages, max_tokens=160).strip()
        return text or report

    return summarise


def builder_for(
    graph_store: GraphStore,
    embedder: Callable[[], Embedder],
    mode: str,
    generator: Callable[[], Generator],
    llm_extract: str | None = None,
    vectors_now: bool = True,
) -> GraphBuilder:
    if mode not in GRAPH_MODES or mode == "off":
        raise ConfigError(f"graph mode must be one of fast, llm (got {mode!r})", setting="graph")

    def embed(texts: list[str]) -> np.ndarray:  # the model loads only if a name is new
        return embedder().embed_passages(texts)

    llm = None
    summarise = None
    if mode == "llm":
        gen = generator()
        llm = LLMBudget(LLMExtractor(gen), parse_budget(llm_extract))
        summarise = llm_summariser(gen)
    return GraphBuilder(graph_store, FastExtractor(), llm=llm, embed=embed, summarise=summarise,
                        vectors_now=vectors_now)  # fmt: skip


def sync_graph(
    store: ChunkStore, builder: GraphBuilder, progress: Callable[[int, int], None] | None = None
) -> SyncReport:
    def chunks_of(doc_id: str) -> Iterator[ChunkText]:  # a page of text at a time
        return (ChunkText(c.id, c.doc_id, c.text) for c in store.iter_chunks_of(doc_id))

    return builder.sync({d.id for d in store.documents()}, chunks_of, progress)
