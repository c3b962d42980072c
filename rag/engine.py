"""The Engine: one façade over a store for ingesting, retrieving and answering.

The CLI, the web app and API callers all use it. Heavy parts (embedder, generator, FAISS) load
lazily on first use, so opening an engine is cheap and `rag docs` never loads a model. One
Engine may be shared by many threads: parts are built once under a lock, the store gives each
read a consistent snapshot while an ingest writes (ingest.store.database), and generation,
which llama.cpp cannot do for two callers at once, is serialised.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from graph.builder import SyncReport
from graph.ports import GraphStore
from graph.store import SqliteGraphStore
from ingest.chunking import ChunkingConfig
from ingest.embedding import Embedder, HashingEmbedder
from ingest.errors import (
    ChunkNotFound,
    ConfigError,
    DocumentError,
    DocumentNotFound,
    EmbedderMismatch,
    ModelNotInstalled,
    UsageError,
)
from ingest.hashing import content_id
from ingest.loaders import require_parser
from ingest.pipeline import (
    FileResult,
    IngestConfig,
    Ingestor,
    IngestReport,
    Progress,
    TextRecord,
)
from ingest.ports import Store, StoreCounts
from ingest.store import EmbeddedStore
from ingest.store.manifest import check_or_create, read_embedder
from ingest.types import Chunk, ChunkHit, DocumentInfo, SearchFilter, check_metadata
from rag.answering import stream_answer
from rag.choices import RetrievalMethod
from rag.crosslingual import GeneratorTranslator, Translator
from rag.generation.base import Generator, Message
from rag.modes.base import Context, Query, QueryOptions
from rag.modes.registry import DEFAULT_GRAPH_STRATEGY, check_method, check_strategy, mode
from rag.services import StoreServices
from rag.settings import Settings
from rag.types import Answer, AnswerEvent, Done

if TYPE_CHECKING:
    import numpy as np

    from graph.knowledge_graph import KnowledgeGraph
    from graph.search import GraphIndex
    from ingest.cluster.store import ClusterTarget
    from ingest.fanout import Fanout

GraphProgress = Callable[[int, int], None]


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "hashing":
        return HashingEmbedder()
    from ingest.e5 import E5Embedder
    from rag.models.registry import require_embedder

    require_embedder(settings.models_dir)
    return E5Embedder(
        settings.models_dir, threads=settings.threads, backend=settings.embedder_backend
    )


@dataclass(frozen=True)
class EmbedderFactory:
    """`build_embedder` for these settings as a value that pickles and compares equal to its
    copies: what an ingest worker process builds its own embedder from."""

    settings: Settings

    def __call__(self) -> Embedder:
        return build_embedder(self.settings)


def build_generator(settings: Settings) -> Generator:
    if settings.generator == "openai":
        from rag.generation.openai_compat import OpenAIGenerator

        # Settings refuses generator=openai without both (RAG_OPENAI_BASE_URL, RAG_OPENAI_MODEL)
        assert settings.openai_base_url and settings.openai_model
        return OpenAIGenerator(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key,
            context_tokens=settings.context_tokens,
        )  # fmt: skip
    from rag.generation.llama import LlamaCppGenerator
    from rag.models.registry import resolve_gguf

    path = resolve_gguf(settings.model, settings.models_dir)
    return LlamaCppGenerator(path, context_tokens=settings.context_tokens, threads=settings.threads)


class SerialGenerator:
    """A generator that answers one caller at a time (llama.cpp keeps one KV cache per model).

    The lock is held for a whole stream, released when the stream ends or is closed."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def context_tokens(self) -> int:
        return self.inner.context_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def __getattr__(self, name: str) -> Any:  # what else the backend offers (a fake's `calls`)
        return getattr(self.inner, name)

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        with self._lock:
            yield from self.inner.stream(
                messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema
            )


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
        translator: Translator | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        self._embedder = embedder
        self._generator: Generator | None = (
            SerialGenerator(generator) if generator is not None else None
        )
        self._lock = threading.RLock()  # builds each part once, whichever thread asks first
        self._store: Store | None = None
        self._graph_store: GraphStore | None = None
        self._graph_index: tuple[int, GraphIndex] | None = None
        self._kg: tuple[int, KnowledgeGraph] | None = None
        self._graph_lock = threading.Lock()  # a graph load must not hold up plain retrieval
        if translator is None:  # used unless translate_queries is off
            translator = GeneratorTranslator(lambda: self.generator)
        self.services = StoreServices(
            self.settings, lambda: self.store, lambda: self.embedder, lambda: self.generator,
            self.graph_index, translator,
        )  # fmt: skip

    @classmethod
    def open(cls, store: str | Path | None = None, **overrides: Any) -> Engine:
        """An engine over `store` (default: RAG_STORE or the documented default location)."""
        return cls(Settings.from_env(store_dir=store, **overrides))

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
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
                embedder = build_embedder(self.settings)
                if self._store is not None:  # opened without the embedder: check it now
                    self._check_embedder(embedder)
                self._embedder = embedder
            return self._embedder

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                gen = build_generator(self.settings)
                # an OpenAI-compatible server takes concurrent requests; llama.cpp cannot
                self._generator = (
                    gen if self.settings.generator == "openai" else SerialGenerator(gen)
                )
            return self._generator

    def _check_embedder(self, embedder: Embedder) -> None:
        if self.settings.backend == "cluster":
            name, dim = self.stored_embedder()
            if (name, dim) != (embedder.name, embedder.dim):
                raise EmbedderMismatch(
                    f"{self.location} was built with embedder {name} (dim {dim}), not "
                    f"{embedder.name} (dim {embedder.dim}); use the same embedder"
                )
            return
        check_or_create(self.settings.store_dir, embedder.name, embedder.dim, create=False)

    def _cluster_target(self) -> ClusterTarget:
        from ingest.cluster.store import ClusterTarget

        s = self.settings
        return ClusterTarget(s.postgres_url, s.milvus_uri, s.cluster_name)

    @property
    def location(self) -> str:
        """Where the knowledge base lives, for messages: a directory, or the cluster's name and
        servers (password left out)."""
        if self.settings.backend == "cluster":
            return self._cluster_target().describe()
        return str(self.settings.store_dir)

    def _open_store(self, create: bool) -> Store:
        with self._lock:
            if self._store is None:
                if create or self._embedder is not None:
                    emb = self.embedder
                    name, dim = emb.name, emb.dim
                else:  # reading documents needs no model: trust the manifest (or the record)
                    name, dim = self.stored_embedder()
                self._store = self._new_store(name, dim, create)
            return self._store

    def _new_store(self, name: str, dim: int, create: bool) -> Store:
        if self.settings.backend == "cluster":
            from ingest.cluster.store import ClusterStore

            return ClusterStore(self._cluster_target(), embedder_name=name, dim=dim, create=create)
        return EmbeddedStore(self.settings.store_dir, embedder_name=name, dim=dim, create=create)

    def stored_embedder(self) -> tuple[str, int]:
        """The name and dimension of the embedder the knowledge base was built with, loading
        no model; `StoreNotFound` when there is no knowledge base."""
        if self.settings.backend == "cluster":
            from ingest.cluster.store import stored_embedder

            return stored_embedder(self._cluster_target())
        return read_embedder(self.settings.store_dir)

    def create_store_as(self, embedder_name: str, dim: int) -> Store:
        """The store, created for the named embedder without loading it: what `rag migrate`
        writes into, the vectors coming with the copy rather than from a model."""
        with self._lock:
            if self._store is None:
                self._store = self._new_store(embedder_name, dim, create=True)
            return self._store

    def drop_store(self) -> None:
        """Delete the knowledge base the settings name (`rag migrate --replace`): a cluster's
        schema and Milvus collections, or an embedded store's directory. A directory with no
        store's manifest in it is not ours to delete: `StoreNotFound`, nothing removed."""
        self.close()
        if self.settings.backend == "cluster":
            from ingest.cluster.store import drop

            drop(self._cluster_target())
            return
        read_embedder(self.settings.store_dir)
        shutil.rmtree(self.settings.store_dir)

    def create_store(self) -> Store:
        """The store, created (with the embedder's manifest) if it does not exist yet."""
        return self._open_store(create=True)

    def readiness(self) -> dict[str, dict[str, Any]]:
        """Which models this engine's settings need, and whether each is installed; loads none."""
        from rag.models.registry import MODELS, is_installed, resolve_gguf

        s = self.settings
        embedder_ok = s.embedder == "hashing" or is_installed(MODELS["embedder"], s.models_dir)
        if s.generator == "openai" or self._generator is not None:
            generator_ok = True
        else:
            try:
                resolve_gguf(s.model, s.models_dir)
                generator_ok = True
            except ModelNotInstalled:
                generator_ok = False
        gen_name = s.openai_model if s.generator == "openai" else s.model
        return {
            "embedder": {
                "name": s.embedder,
                "installed": embedder_ok or self._embedder is not None,
            },
            "generator": {"name": gen_name, "installed": generator_ok},
        }

    @property
    def store(self) -> Store:
        """The store's ports (chunks, dense, keywords); opening it loads no model."""
        return self._open_store(create=False)

    @cached_property
    def _ingest_config(self) -> IngestConfig:
        s = self.settings
        return IngestConfig(
            chunking=ChunkingConfig(s.chunk_tokens, s.chunk_overlap),
            max_bytes=int(s.max_file_mb * 2**20),
            max_text_bytes=int(s.max_text_mb * 2**20),
            parser=s.parser,
            write_wait=s.write_wait,
        )

    # --- documents -------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        progress: Progress | None = None,
        graph_progress: GraphProgress | None = None,
        *,
        force: bool = False,
        metadata: Mapping[str, Any] | None = None,
        workers: int = 1,
    ) -> IngestReport:
        """Ingest files and folders; unchanged files are skipped (unless `force`), changed
        ones replaced. Each document gets `metadata` (string keys, scalar values), which
        `SearchFilter.metadata` matches; the same file with new metadata is updated. Unless
        settings.graph is "off", the knowledge graph is then brought in step.

        `workers` > 1 parses, chunks and embeds the files on that many Ray workers (the `[ray]`
        extra; `settings.ray_address`, or a local Ray instance) while this process writes:
        the store ends up as a serial ingest leaves it (`ingest.fanout`)."""
        if workers < 1:
            raise UsageError(f"workers must be at least 1, not {workers}")
        require_parser(self.settings.parser)  # a missing backend fails before a store exists
        check_metadata(metadata)  # and bad metadata before one is created
        store = self._open_store(create=True)
        config = replace(self._ingest_config, force=force)
        ingestor = Ingestor(store, self.embedder, config)
        fanout = self._fanout(config, workers) if workers > 1 else None
        try:
            report = ingestor.ingest_paths([Path(p) for p in paths], progress, metadata, fanout)
        finally:
            if fanout is not None:
                fanout.close()
        self.sync_graph(graph_progress)
        return report

    def _fanout(self, config: IngestConfig, workers: int) -> Fanout:
        from ingest.ray_fanout import RayFanout

        settings = self.settings
        if not settings.ray_address:  # a local instance: the machine's cores shared out
            settings = replace(settings, threads=max(1, settings.threads // workers))
        return RayFanout(EmbedderFactory(settings), config, workers, settings.ray_address)

    def ingest_texts(
        self,
        records: list[TextRecord],
        progress: Progress | None = None,
        graph_progress: GraphProgress | None = None,
    ) -> IngestReport:
        """Ingest documents given as text (key, title, text, metadata); the key is their source,
        so ingesting a key again replaces that document (or skips it, unchanged)."""
        require_parser(self.settings.parser)
        for r in records:
            check_metadata(r.metadata)
        store = self._open_store(create=True)
        ingestor = Ingestor(store, self.embedder, self._ingest_config)
        report = ingestor.ingest_records(records, len(records), progress)
        self.sync_graph(graph_progress)
        return report

    def ingest_text(
        self,
        text: str,
        *,
        title: str = "",
        key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> FileResult:
        """Ingest one text as a document. `key` is its source (what `delete` and filters see);
        without one it is `text:` and a hash of the text, so the same text twice is one
        document. Returns the document's result (its id in `doc_id`)."""
        if not isinstance(text, str) or not text.strip():
            raise UsageError("text to ingest must be a non-empty string")
        key = key or f"text:{content_id(title, text)}"
        report = self.ingest_texts([TextRecord(key, title or key, text, metadata or {})])
        result = report.results[0]
        if result.status == "failed":
            raise DocumentError(result.error or f"{key}: could not be ingested")
        return result

    # --- knowledge graph --------------------------------------------------------------------

    @property
    def graph_store(self) -> GraphStore:
        with self._lock:
            if self._graph_store is None:
                if self.settings.backend == "cluster":
                    from graph.postgres_store import PostgresGraphStore

                    s = self.settings
                    self._graph_store = PostgresGraphStore(s.postgres_url, s.cluster_name)
                else:
                    self._graph_store = SqliteGraphStore(self.settings.store_dir)
            return self._graph_store

    def sync_graph(
        self, progress: GraphProgress | None = None, *, vectors_now: bool = True
    ) -> SyncReport | None:
        """Extract new documents into the graph and drop deleted ones (no-op when graph=off).

        `vectors_now=False` (after a delete) leaves new name and report vectors to the next
        graph search, so deleting loads no model."""
        if self.settings.graph == "off":
            return None
        from rag.graphing import builder_for, sync_graph

        s = self.settings
        store = self.store
        builder = builder_for(
            self.graph_store, lambda: self.embedder, s.graph, lambda: self.generator,
            s.llm_extract, vectors_now,
        )  # fmt: skip
        with store.writing(s.write_wait):
            return sync_graph(store.chunks, builder, progress)

    def graph_index(self) -> GraphIndex:
        """The graph with its entity and report vectors, reloaded when the graph changes."""
        from graph.search import GraphIndex

        gen = self.graph_store.generation()
        embed = self.embedder.embed_passages  # vectors a model-less rebuild left out
        with self._graph_lock:
            if self._graph_index is None or self._graph_index[0] != gen:
                self._graph_index = (gen, GraphIndex(self.graph_store, embed))
            return self._graph_index[1]

    def graph(self) -> KnowledgeGraph:
        """The resolved knowledge graph in NetworkX, loaded once per graph generation and
        shared by every caller until the graph changes: treat it as read-only."""
        from graph.knowledge_graph import KnowledgeGraph

        self.store  # noqa: B018 - a missing store is reported as such, not as an empty graph
        store = self.graph_store
        gen = store.generation()
        with self._graph_lock:
            if self._kg is None or self._kg[0] != gen:
                self._kg = (gen, KnowledgeGraph.load(store))
            return self._kg[1]

    def documents(self) -> list[DocumentInfo]:
        return self.store.chunks.documents()

    def document(self, doc_id: str) -> DocumentInfo:
        found = self.store.chunks.document(doc_id)
        if found is None:
            raise DocumentNotFound(f"no document with id {doc_id}; see `rag docs`")
        return found

    def find_documents(self, ref: str) -> list[DocumentInfo]:
        """The documents `ref` names (id, id prefix, path, file name or glob); none is an error."""
        store = self.store
        with store.reading():
            return _named(store, ref)

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The chunks of one document, in reading order."""
        return self.store.chunks.chunks_of(doc_id)

    def chunk(self, chunk_id: str) -> ChunkHit:
        """One chunk by id, with its document (score 0)."""
        found = self.store.chunks.hits([(chunk_id, 0.0)])
        if not found:
            raise ChunkNotFound(f"no chunk with id {chunk_id!r}")
        return found[0]

    def counts(self) -> StoreCounts:
        return self.store.chunks.counts()

    def delete(self, ref: str) -> list[DocumentInfo]:
        """Delete the documents `ref` names (id, id prefix, path, file name or glob)."""
        store = self.store
        with store.writing(self.settings.write_wait):  # look up what the lock now protects
            found = _named(store, ref)
            for doc in found:
                store.delete_document(doc.id)
            self.sync_graph(vectors_now=False)
        return found

    # --- retrieval and answers ---------------------------------------------------------------

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        method: RetrievalMethod | None = None,
        filters: SearchFilter | None = None,
    ) -> list[ChunkHit]:
        return self.services.retrieve(question, k=k, method=method, filters=filters)

    def query(self, question: str | Query, **options: Unpack[QueryOptions]) -> Query:
        """The query with the settings' defaults filled in; bad choices raise ConfigError."""
        q = Query.of(question, **options)
        spec = mode(q.mode)
        strategy = check_strategy(q.strategy) if q.strategy is not None else None  # any mode
        if spec.strategies:
            strategy = strategy or check_strategy(spec.default_strategy or DEFAULT_GRAPH_STRATEGY)
        else:
            strategy = None  # a mode without strategies ignores a valid one
        if q.k is not None and q.k < 1:
            raise ConfigError(f"k must be at least 1, not {q.k}")
        method = check_method(q.method or self.settings.retrieval)
        return replace(q, strategy=strategy, k=q.k or self.settings.top_k, method=method)

    def context(self, question: str | Query, **options: Unpack[QueryOptions]) -> Context:
        """What the query's mode retrieves: ranked chunks, background notes, a trace."""
        q = self.query(question, **options)
        return mode(q.mode).run(self.services, q)

    def stream(
        self,
        question: str | Query,
        *,
        brief: bool = False,
        context: Context | None = None,
        started: float | None = None,
        history: Sequence[Message] = (),
        **options: Unpack[QueryOptions],
    ) -> Iterator[AnswerEvent]:
        """Answer, yielding the retrieved sources, the answer's tokens, then the Answer.

        `context` reuses what `context()` already retrieved (benchmarks rank and answer from one
        retrieval; a chat retrieves for its whole conversation); `started` (a
        time.perf_counter() reading) is when that retrieval began, so the timings count it;
        `history` is a chat's earlier turns, which the prompt carries before the question."""
        t0 = time.perf_counter() if started is None else started
        q = self.query(question, **options)  # a bad choice raises here, not at the first next()
        return self._answer(q, context, brief, t0, history)

    def _answer(
        self,
        q: Query,
        context: Context | None,
        brief: bool,
        t0: float,
        history: Sequence[Message] = (),
    ) -> Iterator[AnswerEvent]:
        ctx = context or mode(q.mode).run(self.services, q)
        s = self.settings
        yield from stream_answer(
            q.question, q.mode, ctx, lambda: self.generator, max_tokens=s.max_answer_tokens,
            temperature=s.temperature, brief=brief, started=t0, history=history,
            embedder=self.services.embedder, compress_to=s.context_budget,
            vectors=self._stored_vectors, withhold=s.unsupported_answers == "withhold",
        )  # fmt: skip

    def _stored_vectors(self, text_hashes: list[str]) -> dict[str, np.ndarray]:
        """The passages' stored embeddings, for the answer's sentence check."""
        store = self.store
        with store.reading():
            return store.chunks.vectors(text_hashes)

    def ask(
        self,
        question: str | Query,
        *,
        brief: bool = False,
        context: Context | None = None,
        history: Sequence[Message] = (),
        **options: Unpack[QueryOptions],
    ) -> Answer:
        """Answer the question (same arguments as `stream`), returning the whole Answer."""
        for event in self.stream(question, brief=brief, context=context, history=history,
                                 **options):  # fmt: skip
            if isinstance(event, Done):
                return event.answer
        raise RuntimeError("answer stream ended without a result")  # pragma: no cover


def _named(store: Store, ref: str) -> list[DocumentInfo]:
    """The documents `ref` names in the store; none is `DocumentNotFound`."""
    found = store.chunks.find_documents(ref)
    if not found:
        raise DocumentNotFound(f"no document matches {ref!r}; see `rag docs`")
    return found
