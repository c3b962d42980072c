"""Ingestion fanned out: workers parse, chunk and embed while one writer commits.

The writer (`Ingestor` with a `Fanout`) keeps what must be done once and in order. It checks
each file and skips the unchanged ones by content hash, then ships each new or changed file's
bytes (a `FileJob`) to a worker, which parses a copy and chunks it (`chunk_job`). The chunked
documents come back in input order and are grouped as a serial ingest groups them (at least
`embed_batch` chunks); each group's texts the store lacks are cut into the same runs a serial
ingest embeds, and each run is embedded on a worker (`Fanout.embed`), several runs at a time.
Then the writer commits each document of the group in its own transaction.

The same runs matter: a transformer's vector for a text depends slightly on the batch it was
embedded in (padding; bf16 on CPUs that have it), not on the thread count. With the same runs
the store ends up bit for bit as a serial ingest leaves it. A document too large to hold whole
(more than `stream_after` chunks) comes back as `TooLarge` and the writer streams it itself, as
it does without workers.

`InProcessFanout` runs the jobs in this process (the fake for tests, and the reference the Ray
fan-out in `ingest.ray_fanout` is held to)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from ingest.chunking import indexed_text
from ingest.embedding import Embedder
from ingest.loaders import open_file
from ingest.types import Chunk, DocumentInfo

if TYPE_CHECKING:
    import numpy as np

    from ingest.pipeline import FileResult, IngestConfig, Status


@dataclass(frozen=True)
class FileJob:
    """A new or changed file for a worker: its bytes (workers need not share the writer's
    disk), its name (parsers and titles read it), and what the writer's checks found."""

    source: str
    name: str
    data: bytes
    meta: dict[str, str]
    digest: str
    size: int
    status: Status


@dataclass
class Chunked:
    """A worker's result: the document, its chunks and their indexed texts."""

    source: str
    doc: DocumentInfo
    chunks: list[Chunk]
    texts: list[str]
    status: Status


@dataclass(frozen=True)
class TooLarge:
    """The document has more chunks than a worker sends back whole: the writer streams it."""

    source: str


JobResult = Chunked | TooLarge


class Fanout(Protocol):
    """Where jobs run. `submit` and `embed` return at once. A file job's future gives its
    `Chunked` or `TooLarge` result, or a failed `FileResult` for a file that cannot be read, or
    raises the RagError that stops an ingest (a missing model or parser); an embedding job's
    gives one vector a text."""

    @property
    def workers(self) -> int: ...

    def submit(self, job: FileJob) -> Future[JobResult | FileResult]: ...

    def embed(self, texts: list[str]) -> Future[np.ndarray]: ...

    def close(self) -> None: ...


def chunk_job(job: FileJob, embedder: Embedder, config: IngestConfig) -> JobResult | FileResult:
    """Parse a copy of the file and chunk it (the embedder's tokenizer counts the tokens)."""
    from ingest.pipeline import Todo, _one_file, make_chunks

    def work() -> JobResult:
        with tempfile.TemporaryDirectory(prefix="rag-job-") as tmp:
            path = Path(tmp) / job.name
            path.write_bytes(job.data)
            opened = open_file(path, max_bytes=config.max_bytes, parser=config.parser,
                               max_text_bytes=config.max_text_bytes)  # fmt: skip
            todo = Todo(job.source, path, job.meta, job.digest, job.size, job.status, opened)
            made = make_chunks(todo, embedder.count_tokens, config)
        if not isinstance(made, tuple):
            return TooLarge(job.source)
        doc, chunks = made
        texts = [indexed_text(doc.title, c.heading_path, c.text) for c in chunks]
        return Chunked(job.source, doc, chunks, texts, job.status)

    return _one_file(job.source, work)


class InProcessFanout:
    """Runs each job when it is submitted, in this process, with an embedder built by
    `factory` on the first job (as a worker process builds its own)."""

    def __init__(self, factory: Callable[[], Embedder], config: IngestConfig) -> None:
        self._factory = factory
        self._embedder: Embedder | None = None
        self._config = config

    @property
    def workers(self) -> int:
        return 1

    def _built(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._factory()
        return self._embedder

    def submit(self, job: FileJob) -> Future[JobResult | FileResult]:
        return _now(lambda: chunk_job(job, self._built(), self._config))

    def embed(self, texts: list[str]) -> Future[np.ndarray]:
        return _now(lambda: self._built().embed_passages(texts))

    def close(self) -> None:
        pass


_T = TypeVar("_T")


def _now(work: Callable[[], _T]) -> Future[_T]:
    """The work done now, as a finished future (its error handed to whoever waits on it)."""
    future: Future[_T] = Future()
    try:
        future.set_result(work())
    except Exception as e:
        future.set_exception(e)
    return future
