"""Ingestion: files (or text records) → parsed documents → chunks → vectors → the store.

Unchanged sources are skipped by content hash; a changed source replaces its document; a file
that fails to parse is reported and the batch goes on, while an error that is not about one
file (a parser backend or model that is not installed) stops the batch with one message.
Embedding is batched across documents (small documents would otherwise be embedded one at a
time), then each document is written in its own transaction.

A document of more than `stream_after` chunks is not held whole: its chunks are embedded and
written a batch at a time as chunking makes them, all inside the one transaction of that
document (`Store.write_document`), so memory stays flat however large the file while a
killed ingest still leaves the document whole or absent. Plain text is read in a stream too
(`ingest.loaders.text`), which is why it has its own, far higher size limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ingest.chunking import ChunkingConfig, chunk_blocks, chunk_paragraphs, indexed_text
from ingest.embedding import Embedder
from ingest.errors import DocumentError, EmptyDocument, RagError, UnsupportedFormat
from ingest.hashing import content_id, file_digest
from ingest.loaders import SUPPORTED_EXTENSIONS, load_document, open_file, require_parser
from ingest.ports import ChunkBatch, Store
from ingest.types import Block, Chunk, DocumentInfo, check_metadata

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

Status = Literal["added", "updated", "unchanged", "failed"]


@dataclass(frozen=True)
class IngestConfig:
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    max_bytes: int = 50 * 2**20  # files parsed whole: PDF, Word, PowerPoint, HTML, Markdown
    max_text_bytes: int = 2**30  # plain text, read in a stream: memory does not grow with it
    parser: str = "builtin"
    embed_batch: int = 64
    # a document with more chunks is embedded and written as it is chunked, never held whole
    stream_after: int = 512
    # seconds to wait for another writer (None: the store's default)
    write_wait: float | None = None
    force: bool = False  # re-read unchanged files too (a re-ingest after a parser change)


@dataclass(frozen=True)
class TextRecord:
    """A document given as text rather than a file (benchmark passages, API callers)."""

    key: str
    title: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileResult:
    source: str
    status: Status
    doc_id: str | None = None
    n_chunks: int = 0
    error: str | None = None


Stage = Literal["parsing", "chunking", "embedding"]


@dataclass(frozen=True)
class IngestEvent:
    """Progress: `done` of `total` inputs handled; `result` is set when one finished.

    Between results, events with `stage` say what is happening to the input `source`
    (`fraction`: how much of that stage is done, for embedding). A progress callback may raise
    a RagError (ingest.errors.Cancelled) to stop the batch: documents already written stay."""

    done: int
    total: int
    result: FileResult | None = None
    source: str | None = None
    stage: Stage | None = None
    fraction: float = 0.0


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def chunks_written(self) -> int:
        return sum(r.n_chunks for r in self.results if r.status in ("added", "updated"))

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("added", "updated", "unchanged", "failed")]
        text = ", ".join(parts) + f"; {self.chunks_written} chunks written in {self.seconds:.1f}s"
        if self.ignored:
            text += f"; {len(self.ignored)} files with unsupported extensions ignored"
        return text


Progress = Callable[[IngestEvent], None]
_Prepared = TypeVar("_Prepared")


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Files to ingest: named files as given, directories walked for supported extensions.

    Hidden entries and folders starting with "_" are not walked into. Returns the files and
    the directory entries ignored for their extension.
    """
    files: list[Path] = []
    ignored: list[str] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if any(part.startswith((".", "_")) for part in rel) or not f.is_file():
                    continue
                (files if f.suffix.lower() in SUPPORTED_EXTENSIONS else ignored).append(f)  # type: ignore[arg-type]
        else:
            files.append(p)
    return files, [str(f) for f in ignored]


@dataclass
class _Pending:
    """A document chunked whole, waiting to be embedded with others and written."""

    source: str
    doc: DocumentInfo
    chunks: list[Chunk]
    texts: list[str]
    status: Status


@dataclass
class _Streamed:
    """A document too large to hold: its first chunks, and the rest still to be made."""

    source: str
    doc: DocumentInfo
    head: list[Chunk]
    rest: Iterator[Chunk]
    status: Status
    fraction: Callable[[], float]  # how much of the input has been read


class Ingestor:
    def __init__(self, store: Store, embedder: Embedder, config: IngestConfig | None = None):
        self.store = store
        self.embedder = embedder
        self.config = config or IngestConfig()

    def ingest_paths(
        self,
        paths: Iterable[Path],
        progress: Progress | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> IngestReport:
        """Ingest files and folders; every document gets `metadata` (checked first, so bad
        metadata fails before anything is read)."""
        require_parser(self.config.parser)
        meta = check_metadata(metadata)
        files, ignored = discover(Path(p) for p in paths)
        report = self._run(((str(f.resolve()), f, meta) for f in files), len(files), progress)
        report.ignored = ignored
        return report

    def ingest_records(
        self, records: Iterable[TextRecord], total: int = 0, progress: Progress | None = None
    ) -> IngestReport:
        checked = [(r.key, r, check_metadata(r.metadata)) for r in records]
        return self._run(checked, total or len(checked), progress)

    def _run(
        self,
        items: Iterable[tuple[str, Path | TextRecord, dict[str, str]]],
        total: int,
        progress: Progress | None,
    ) -> IngestReport:
        start = time.perf_counter()
        report = IngestReport()
        pending: list[_Pending] = []

        def finish(result: FileResult) -> None:
            report.results.append(result)
            if progress:
                progress(IngestEvent(len(report.results), total, result))

        def stage(source: str, name: Stage, fraction: float = 0.0) -> None:
            if progress:
                progress(IngestEvent(len(report.results), total, None, source, name, fraction))

        with self.store.writing(self.config.write_wait):
            for source, item, meta in items:
                prepared = _one_file(source, partial(self._prepare, source, item, meta, stage))
                if isinstance(prepared, FileResult):
                    finish(prepared)
                elif isinstance(prepared, _Pending):
                    pending.append(prepared)
                    if sum(len(p.chunks) for p in pending) >= self.config.embed_batch:
                        for result in self._flush(pending, stage):
                            finish(result)
                        pending = []
                else:  # written now, after the documents before it, so results keep their order
                    for result in self._flush(pending, stage):
                        finish(result)
                    pending = []
                    finish(_one_file(source, partial(self._write_streamed, prepared, stage)))
            for result in self._flush(pending, stage):
                finish(result)
        report.seconds = time.perf_counter() - start
        return report

    def _prepare(
        self, source: str, item: Path | TextRecord, meta: dict[str, str], stage: _StageReport
    ) -> _Pending | _Streamed | FileResult:
        opened = None
        if isinstance(item, TextRecord):
            if not item.text.strip():  # as an empty file is: a failed result, not a 0-chunk doc
                raise EmptyDocument(f"{source}: no text")
            data = f"{item.title}\n{item.text}".encode()
            digest, size = file_digest(data), len(data)
        else:
            if item.is_file() and item.suffix.lower() not in SUPPORTED_EXTENSIONS:
                raise UnsupportedFormat(
                    f"{item.name}: unsupported file type {item.suffix or '(none)'}; supported: "
                    + ", ".join(sorted(SUPPORTED_EXTENSIONS))
                )
            if not item.is_file():
                raise DocumentError(f"{item}: no such file")
            opened = open_file(
                item, max_bytes=self.config.max_bytes, parser=self.config.parser,
                max_text_bytes=self.config.max_text_bytes,
            )  # fmt: skip
            digest, size = opened.digest, opened.size
        existing = self.store.chunks.document_by_source(source)
        if (
            existing and digest and existing.content_hash == digest
            and dict(existing.metadata) == meta and not self.config.force
        ):  # fmt: skip
            return FileResult(source, "unchanged", existing.id, existing.n_chunks)
        # new metadata on unchanged content re-writes the document under the same id: the
        # chunk ids, stored vectors and graph extractions all carry over
        stage(source, "parsing")
        doc_id = content_id(source, digest)
        count, cfg = self.embedder.count_tokens, self.config.chunking
        fraction: Callable[[], float] = lambda: 0.0  # noqa: E731
        if isinstance(item, TextRecord):
            name, title, fmt = source, item.title, "text"
            chunks = chunk_blocks(title, [Block("paragraph", item.text)], doc_id, count, cfg)
        elif opened is not None and opened.text is not None:
            text = opened.text
            name, title, fmt = item.name, item.stem, "txt"
            chunks = chunk_paragraphs(title, text.pieces(), doc_id, count, cfg)
            fraction = lambda: text.fraction_read  # noqa: E731
        else:
            parsed = load_document(item, max_bytes=self.config.max_bytes, parser=self.config.parser)
            name, title, fmt = item.name, parsed.title, parsed.format
            chunks = chunk_blocks(title, parsed.blocks, doc_id, count, cfg)
        stage(source, "chunking")
        head = list(islice(chunks, self.config.stream_after + 1))
        if not head and fmt == "txt":  # what load_document says of a text with no words
            raise EmptyDocument(f"{name}: contains no text")
        doc = DocumentInfo(
            id=doc_id, source=source, name=name, title=title, format=fmt,
            content_hash=digest, size=size, n_chunks=len(head), ingested_at=time.time(),
            metadata=meta,
        )  # fmt: skip
        status: Status = "updated" if existing else "added"
        if len(head) > self.config.stream_after:
            return _Streamed(source, doc, head, chunks, status, fraction)
        texts = [indexed_text(title, c.heading_path, c.text) for c in head]
        return _Pending(source, doc, head, texts, status)

    def _flush(self, pending: list[_Pending], stage: _StageReport) -> Iterator[FileResult]:
        """Embed what the pending documents lack, then write each in its own transaction."""
        if not pending:
            return
        by_hash: dict[str, str] = {}
        for p in pending:
            by_hash.update({c.text_hash: t for c, t in zip(p.chunks, p.texts, strict=True)})
        missing = sorted(self.store.chunks.missing_vectors(by_hash))
        new: dict[str, np.ndarray] = {}
        for part in _parts(missing, self.config.embed_batch):
            for p in pending:
                stage(p.source, "embedding", len(new) / max(len(missing), 1))
            vectors = self.embedder.embed_passages([by_hash[h] for h in part])
            new.update(zip(part, vectors, strict=True))
        for p in pending:
            mine = {c.text_hash: new[c.text_hash] for c in p.chunks if c.text_hash in new}
            # a document replaced earlier in this batch may have taken a shared text's stored
            # vector with it: embed what went missing since the batch began
            gone = sorted(self.store.chunks.missing_vectors(
                {c.text_hash for c in p.chunks if c.text_hash not in new}))  # fmt: skip
            if gone:
                again = self.embedder.embed_passages([by_hash[h] for h in gone])
                mine.update(zip(gone, again, strict=True))
            self.store.put_document(p.doc, p.chunks, p.texts, mine)
            yield FileResult(p.source, p.status, p.doc.id, len(p.chunks))

    def _write_streamed(self, s: _Streamed, stage: _StageReport) -> FileResult:
        """Chunk, embed and write the document a batch at a time, in one store write."""
        doc = self.store.write_document(s.doc, self._batches(s, stage))
        return FileResult(s.source, s.status, doc.id, doc.n_chunks)

    def _batches(self, s: _Streamed, stage: _StageReport) -> Iterator[ChunkBatch]:
        """Batches of `embed_batch` chunks with the vectors the store lacks.

        Texts are embedded in runs of exactly `embed_batch`, the last run taking the remainder
        (as `_parts` does), so every run an embedder sees is as large as a batch. A text is
        looked up when its chunk is read: one written by an earlier batch of this document is
        in the store by then (the write is ours, though not committed), so it is embedded once.
        """
        size = self.config.embed_batch
        todo: dict[str, str] = {}  # text hash → indexed text, still to embed
        for part in _batched(chain(s.head, s.rest), size):
            texts = [indexed_text(s.doc.title, c.heading_path, c.text) for c in part]
            fresh = {
                c.text_hash: t for c, t in zip(part, texts, strict=True) if c.text_hash not in todo
            }
            todo.update((h, fresh[h]) for h in sorted(self.store.chunks.missing_vectors(fresh)))
            vectors: dict[str, np.ndarray] = {}
            while len(todo) >= 2 * size:
                run = list(islice(todo, size))
                vectors.update(self._embed(run, [todo.pop(h) for h in run]))
            stage(s.source, "embedding", s.fraction())
            yield ChunkBatch(part, texts, vectors)
        if todo:
            yield ChunkBatch(vectors=self._embed(list(todo), list(todo.values())))

    def _embed(self, hashes: list[str], texts: list[str]) -> dict[str, np.ndarray]:
        return dict(zip(hashes, self.embedder.embed_passages(texts), strict=True))


_StageReport = Callable[..., None]  # (source, stage, fraction=0.0)


def _one_file(source: str, work: Callable[[], _Prepared]) -> _Prepared | FileResult:
    """Run the work on one file; a failure that is about this file is its failed result.

    An error that is not about the file (a missing backend, model or store) is raised: the
    next file would fail the same way, so the batch stops with one message."""
    try:
        return work()
    except DocumentError as e:
        log.warning("%s", e)
        return FileResult(source, "failed", error=str(e))
    except RagError:
        raise
    except Exception as e:  # a bug on one file must not lose the rest of the batch
        log.exception("internal error on %s", source)
        name = Path(source).name
        return FileResult(source, "failed", error=f"{name}: internal error: {e!r}")


def _batched(items: Iterable[Chunk], size: int) -> Iterator[list[Chunk]]:
    it = iter(items)
    while part := list(islice(it, size)):
        yield part


def _parts(items: list[str], size: int) -> list[list[str]]:
    """`items` in runs of `size`, the remainder joined to the last run: every run an embedder
    sees is as large as the batch would have been, so it picks the same backend for each."""
    if len(items) <= size:
        return [items] if items else []
    runs = [items[i : i + size] for i in range(0, len(items), size)]
    if len(runs[-1]) < size:
        runs[-2].extend(runs.pop())
    return runs
