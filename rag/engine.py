"""The Engine: one façade over a store for ingesting, retrieving and answering.

The CLI, the web app and API callers all use it. Heavy parts (embedder, generator, FAISS) load
lazily on first use, so opening an engine is cheap and `rag docs` never loads a model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.builder import SyncReport
from graph.store import GraphStore
from ingest.chunking import ChunkingConfig
from ingest.embedding import Embedder, HashingEmbedder
from ingest.errors import DocumentNotFound
from ingest.pipeline import IngestConfig, Ingestor, IngestReport, Progress, TextRecord
from ingest.store import Store
from ingest.types import Chunk, ChunkHit, DocumentInfo, SearchFilter
from rag.generation.base import Generator
from rag.modes.context import Context
from rag.prompting import UNKNOWN, build_messages, detect_language, parse_citations
from rag.retrieval import Retriever, make_retriever
from rag.settings import Settings
from rag.types import Answer, AnswerEvent, Done, Retrieved, Source, Token

if TYPE_CHECKING:
    from graph.knowledge_graph import KnowledgeGraph
    from graph.search import GraphIndex

MODES = ("rag", "graph", "kag")
GraphProgress = Callable[[int, int], None]


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "hashing":
        return HashingEmbedder()
    if settings.embedder != "e5":
        raise ValueError(f"unknown embedder {settings.embedder!r} (e5 or hashing)")
    from ingest.e5 import E5Embedder
    from rag.models.registry import require_embedder

    require_embedder(settings.models_dir)
    return E5Embedder(
        settings.models_dir, threads=settings.threads, backend=settings.embedder_backend
    )


def build_generator(settings: Settings) -> Generator:
    if settings.generator == "openai":
        from rag.generation.openai_compat import OpenAIGenerator

        if not settings.openai_base_url or not settings.openai_model:
            raise ValueError("the openai generator needs RAG_OPENAI_BASE_URL and RAG_OPENAI_MODEL")
        return OpenAIGenerator(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key,
            context_tokens=settings.context_tokens,
        )  # fmt: skip
    if settings.generator != "local":
        raise ValueError(f"unknown generator {settings.generator!r} (local or openai)")
    from rag.generation.llama import LlamaCppGenerator
    from rag.models.registry import resolve_gguf

    path = resolve_gguf(settings.model, settings.models_dir)
    return LlamaCppGenerator(path, context_tokens=settings.context_tokens, threads=settings.threads)


class Engine:
    """Open a store; ingest, list, delete documents; retrieve; answer with citations.

    >>> engine = Engine.open("./kb")                      # doctest: +SKIP
    >>> engine.ingest(["papers/"])                        # doctest: +SKIP
    >>> print(engine.ask("什么是 QLoRA？").answer)          # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._embedder = embedder
        self._generator = generator
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._graph_store: GraphStore | None = None
        self._graph_index: tuple[int, GraphIndex] | None = None

    @classmethod
    def open(cls, store: str | Path | None = None, **overrides: Any) -> Engine:
        """An engine over `store` (default: RAG_STORE or the documented default location)."""
        return cls(Settings.from_env(store_dir=store, **overrides))

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._graph_store is not None:
            self._graph_store.close()
            self._graph_store = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- parts, loaded on first use ------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings)
            return self._embedder

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                self._generator = build_generator(self.settings)
            return self._generator

    def _open_store(self, create: bool) -> Store:
        if self._store is None:
            emb = self.embedder
            self._store = Store(
                self.settings.store_dir, embedder_name=emb.name, dim=emb.dim, create=create
            )
        return self._store

    @property
    def store(self) -> Store:
        return self._open_store(create=False)

    @cached_property
    def _ingest_config(self) -> IngestConfig:
        s = self.settings
        return IngestConfig(
            chunking=ChunkingConfig(s.chunk_tokens, s.chunk_overlap),
            max_bytes=int(s.max_file_mb * 2**20),
            parser=s.parser,
        )

    # --- documents -------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        progress: Progress | None = None,
        graph_progress: GraphProgress | None = None,
    ) -> IngestReport:
        """Ingest files and folders; unchanged files are skipped, changed ones replaced.

        Unless settings.graph is "off", the knowledge graph is then brought in step."""
        store = self._open_store(create=True)
        ingestor = Ingestor(store, self.embedder, self._ingest_config)
        report = ingestor.ingest_paths([Path(p) for p in paths], progress)
        self.sync_graph(graph_progress)
        return report

    def ingest_texts(
        self,
        records: list[TextRecord],
        progress: Progress | None = None,
        graph_progress: GraphProgress | None = None,
    ) -> IngestReport:
        """Ingest documents given as text (key, title, text); the key is their source."""
        store = self._open_store(create=True)
        ingestor = Ingestor(store, self.embedder, self._ingest_config)
        report = ingestor.ingest_records(records, len(records), progress)
        self.sync_graph(graph_progress)
        return report

    # --- knowledge graph --------------------------------------------------------------------

    @property
    def graph_store(self) -> GraphStore:
        if self._graph_store is None:
            self._graph_store = GraphStore(self.settings.store_dir)
        return self._graph_store

    def sync_graph(self, progress: GraphProgress | None = None) -> SyncReport | None:
        """Extract new documents into the graph and drop deleted ones (no-op when graph=off)."""
        if self.settings.graph == "off":
            return None
        from rag.graphing import builder_for, sync_graph

        s = self.settings
        builder = builder_for(
            self.store, self.graph_store, self.embedder, s.graph, lambda: self.generator,
            s.llm_extract,
        )  # fmt: skip
        with self.store.writing():
            return sync_graph(self.store, builder, progress)

    def graph_index(self) -> GraphIndex:
        """The graph with its entity and report vectors, reloaded when the graph changes."""
        from graph.search import GraphIndex

        gen = self.graph_store.generation()
        with self._lock:
            if self._graph_index is None or self._graph_index[0] != gen:
                self._graph_index = (gen, GraphIndex(self.graph_store))
            return self._graph_index[1]

    def graph(self) -> KnowledgeGraph:
        """The resolved knowledge graph, loaded into NetworkX."""
        from graph.knowledge_graph import KnowledgeGraph

        self.store  # noqa: B018 - a missing store is reported as such, not as an empty graph
        return KnowledgeGraph.load(self.graph_store)

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The chunks of one document, in reading order."""
        return self.store.chunks_of(doc_id)

    def delete(self, ref: str) -> list[DocumentInfo]:
        """Delete the documents `ref` names (id, id prefix, path, file name or glob)."""
        store = self.store
        found = store.find_documents(ref)
        if not found:
            raise DocumentNotFound(f"no document matches {ref!r}; see `rag docs`")
        with store.writing():
            for doc in found:
                store.delete_document(doc.id)
        self.sync_graph()
        return found

    # --- retrieval and answers ---------------------------------------------------------------

    def retriever(self, method: str | None = None) -> Retriever:
        s = self.settings
        return make_retriever(
            method or s.retrieval, self.store, self.embedder, s.bm25_weight, s.candidates, s.fusion
        )

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        method: str | None = None,
        filters: SearchFilter | None = None,
    ) -> list[ChunkHit]:
        return self.retriever(method).retrieve(question, k or self.settings.top_k, filters)

    def context(
        self,
        question: str,
        *,
        mode: str = "rag",
        strategy: str | None = None,
        k: int | None = None,
        method: str | None = None,
        filters: SearchFilter | None = None,
    ) -> Context:
        """What `mode` retrieves for `question`: ranked chunks, background notes, a trace."""
        k = k or self.settings.top_k
        if mode == "rag":
            hits = self.retrieve(question, k=k, method=method, filters=filters)
            return Context(
                hits, trace=[{"step": "retrieve", "method": method or self.settings.retrieval}]
            )
        if mode == "graph":
            from rag.modes.graph import DEFAULT_STRATEGY, graph_context

            return graph_context(self, question, strategy or DEFAULT_STRATEGY, k, filters)
        if mode == "kag":
            from rag.modes.kag import kag_context

            return kag_context(self, question, k, filters)
        raise ValueError(f"unknown mode {mode!r}; available: {', '.join(MODES)}")

    def stream(
        self,
        question: str,
        *,
        mode: str = "rag",
        strategy: str | None = None,
        k: int | None = None,
        method: str | None = None,
        filters: SearchFilter | None = None,
        brief: bool = False,
        context: Context | None = None,
    ) -> Iterator[AnswerEvent]:
        """Answer `question`, yielding the retrieved sources, the answer's tokens, then the Answer.

        `context` reuses what `context()` already retrieved (benchmarks rank and answer from one
        retrieval)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; available: {', '.join(MODES)}")
        t0 = time.perf_counter()
        ctx = context or self.context(
            question, mode=mode, strategy=strategy, k=k, method=method, filters=filters
        )
        hits = ctx.hits
        t_retrieved = time.perf_counter()
        lang = detect_language(question)
        sources = [Source.from_hit(i, h) for i, h in enumerate(hits, start=1)]
        timings = {"retrieval_s": t_retrieved - t0}
        if not sources:
            yield Retrieved([])
            yield Done(Answer(question, UNKNOWN[lang], mode, lang, [], [], timings, ctx.trace))
            return
        gen = self.generator
        max_tokens = self.settings.max_answer_tokens
        messages, used = build_messages(question, sources, gen, max_tokens, brief, ctx.notes)
        yield Retrieved(used)
        parts: list[str] = []
        first: float | None = None
        for piece in gen.stream(
            messages, max_tokens=max_tokens, temperature=self.settings.temperature
        ):
            if first is None:
                first = time.perf_counter()
            parts.append(piece)
            yield Token(piece)
        end = time.perf_counter()
        text = "".join(parts).strip()
        timings.update(
            first_token_s=(first or end) - t0, generation_s=end - t_retrieved, total_s=end - t0
        )
        cited = parse_citations(text, {s.n for s in used})
        yield Done(Answer(question, text, mode, lang, used, cited, timings, ctx.trace))

    def ask(self, question: str, **kwargs: Any) -> Answer:
        """Answer `question` (same arguments as `stream`), returning the whole Answer."""
        for event in self.stream(question, **kwargs):
            if isinstance(event, Done):
                return event.answer
        raise RuntimeError("answer stream ended without a result")  # pragma: no cover
