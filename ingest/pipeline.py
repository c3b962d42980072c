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
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ingest.chunking import ChunkingConfig, chunk_blocks, chunk_paragraphs, indexed_text
from ingest.embedding import Embedder
from ingest.errors import DocumentError, EmptyDocument, RagError, UnsupportedFormat
from ingest.hashing import content_id, file_digest
from ingest.loaders import (
    SUPPORTED_EXTENSIONS,
    OpenedFile,
    load_document,
    open_file,
    require_parser,
)
from ingest.ports import ChunkBatch, Store
from ingest.types import Block, Chunk, DocumentInfo, check_metadata

if TYPE_CHECKING:
    import numpy as np

    from ingest.fanout import Fanout

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


@dataclass
class _Group:
    """Documents whose texts are being embedded together, in the runs a serial ingest uses."""

    pending: list[_Pending]
    hashes: set[str]
    runs: list[tuple[list[str], Future[np.ndarray]]]


@dataclass
class Todo:
    """An input that passed the checks and is new or changed: to be parsed, chunked, embedded."""

    source: str
    item: Path | TextRecord
    meta: dict[str, str]
    digest: str
    size: int
    status: Status
    opened: OpenedFile | None = None  # a file's checks and hash; None for a text record


def make_chunks(
    todo: Todo, count: Callable[[str], int], config: IngestConfig
) -> tuple[DocumentInfo, list[Chunk]] | _Streamed:
    """The document and its chunks, or (more than `config.stream_after` chunks) its head and
    the rest as they are made. Chunk ids depend on the content alone: a worker that runs this
    on a copy of the file makes the same chunks as the writer would."""
    source, item, cfg = todo.source, todo.item, config.chunking
    doc_id = content_id(source, todo.digest)
    fraction: Callable[[], float] = lambda: 0.0  # noqa: E731
    if isinstance(item, TextRecord):
        name, title, fmt = source, item.title, "text"
        chunks = chunk_blocks(title, [Block("paragraph", item.text)], doc_id, count, cfg)
    elif todo.opened is not None and todo.opened.text is not None:
        text = todo.opened.text
        name, title, fmt = item.name, item.stem, "txt"
        chunks = chunk_paragraphs(title, text.pieces(), doc_id, count, cfg)
        fraction = lambda: text.fraction_read  # noqa: E731
    else:
        parsed = load_document(item, max_bytes=config.max_bytes, parser=config.parser)
        name, title, fmt = item.name, parsed.title, parsed.format
        chunks = chunk_blocks(title, parsed.blocks, doc_id, count, cfg)
    head = list(islice(chunks, config.stream_after + 1))
    if not head and fmt == "txt":  # what load_document says of a text with no words
        raise EmptyDocument(f"{name}: contains no text")
    doc = DocumentInfo(
        id=doc_id, source=source, name=name, title=title, format=fmt,
        content_hash=todo.digest, size=todo.size, n_chunks=len(head), ingested_at=time.time(),
        metadata=todo.meta,
    )  # fmt: skip
    if len(head) > config.stream_after:
        return _Streamed(source, doc, head, chunks, todo.status, fraction)
    return doc, head


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
        fanout: Fanout | None = None,
    ) -> IngestReport:
        """Ingest files and folders; every document gets `metadata` (checked first, so bad
        metadata fails before anything is read). With a `fanout`, workers parse, chunk and
        embed the new and changed files (`ingest.fanout`) and this writer commits them."""
        require_parser(self.config.parser)
        meta = check_metadata(metadata)
        files, ignored = discover(Path(p) for p in paths)
        items = ((str(f.resolve()), f, meta) for f in files)
        if fanout is None:
            report = self._run(items, len(files), progress)
        else:
            report = self._run_fanout(items, len(files), progress, fanout)
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

        finish, stage = _reporting(report, total, progress)

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

    def _run_fanout(
        self,
        items: Iterable[tuple[str, Path, dict[str, str]]],
        total: int,
        progress: Progress | None,
        fanout: Fanout,
    ) -> IngestReport:
        """`_run` with the parsing and chunking of each new or changed file, and the embedding
        runs, done by `fanout`'s workers (see `ingest.fanout`). Up to two file jobs and two
        embedding runs per worker are in flight; documents are written in input order, in
        the groups and per-document transactions of `_run`, with the same embedding runs."""
        from ingest.fanout import Chunked, FileJob, TooLarge

        start = time.perf_counter()
        report = IngestReport()
        limit = 2 * fanout.workers
        files: deque[tuple[str, Todo | FileResult, Future[Any] | None]] = deque()
        pending: list[_Pending] = []
        groups: deque[_Group] = deque()  # embedding, in order; each written when its runs are in
        coming: Counter[str] = Counter()  # texts of the groups not yet written: stored by then

        finish, stage = _reporting(report, total, progress)

        def launch() -> None:
            """The pending documents as a group: the runs `_flush` would embed, on workers."""
            nonlocal pending
            if not pending:
                return
            by_hash = _texts_by_hash(pending)
            missing = sorted(
                h for h in self.store.chunks.missing_vectors(by_hash) if coming[h] <= 0
            )
            runs = [(run, fanout.embed([by_hash[h] for h in run]))
                    for run in _parts(missing, self.config.embed_batch)]  # fmt: skip
            for p in pending:
                stage(p.source, "embedding")
            groups.append(_Group(pending, set(by_hash), runs))
            coming.update(list(by_hash))
            pending = []

        def write(most: int) -> None:
            """Write the groups whose runs are in; wait for the oldest while more than `most`
            groups or runs are out (-1: until all are written)."""
            while groups and (
                len(groups) > most
                or sum(len(g.runs) for g in groups) > most
                or all(f.done() for _, f in groups[0].runs)
            ):
                group = groups.popleft()
                known: dict[str, np.ndarray] = {}
                for run, future in group.runs:
                    known.update(zip(run, future.result(), strict=True))
                for result in self._flush(group.pending, stage, known):
                    finish(result)
                coming.subtract(group.hashes)

        def add(p: _Pending) -> None:
            pending.append(p)
            if sum(len(q.chunks) for q in pending) >= self.config.embed_batch:
                launch()
                write(limit)

        def local(todo: Todo) -> None:
            made = _one_file(todo.source, partial(self._make, todo, stage))
            if isinstance(made, FileResult):
                finish(made)
            elif isinstance(made, _Pending):
                add(made)
            else:  # written after the documents before it, as `_run` does
                launch()
                write(-1)
                finish(_one_file(todo.source, partial(self._write_streamed, made, stage)))

        def settle(most: int) -> None:
            while len(files) > most:
                source, checked, job = files.popleft()
                if isinstance(checked, FileResult):
                    finish(checked)
                    continue
                if job is None:
                    local(checked)
                    continue
                try:
                    got = job.result()
                except RagError:
                    raise
                except Exception as e:  # a worker that died: this file fails, the batch goes on
                    log.error("worker failed on %s: %s", source, e)
                    got = FileResult(
                        source, "failed", error=f"{Path(source).name}: worker failed: {e}"
                    )
                if isinstance(got, FileResult):
                    finish(got)
                elif isinstance(got, TooLarge):  # held whole it would not be flat: stream it here
                    local(checked)
                elif isinstance(got, Chunked):
                    add(_Pending(got.source, got.doc, got.chunks, got.texts, got.status))

        with self.store.writing(self.config.write_wait):
            try:
                for source, item, meta in items:
                    checked = _one_file(source, partial(self._check, source, item, meta))
                    job = None
                    if isinstance(checked, Todo) and checked.size <= self.config.max_bytes:
                        stage(source, "parsing")
                        job = fanout.submit(FileJob(
                            source, item.name, item.read_bytes(), meta, checked.digest,
                            checked.size, checked.status,
                        ))  # fmt: skip
                    files.append((source, checked, job))
                    settle(limit)
                settle(0)
                launch()
                write(-1)
            finally:  # stopped early: what is still queued is not needed
                for *_, job in files:
                    if job is not None:
                        job.cancel()
                for group in groups:
                    for _, future in group.runs:
                        future.cancel()
        report.seconds = time.perf_counter() - start
        return report

    def _prepare(
        self, source: str, item: Path | TextRecord, meta: dict[str, str], stage: _StageReport
    ) -> _Pending | _Streamed | FileResult:
        checked = self._check(source, item, meta)
        return checked if isinstance(checked, FileResult) else self._make(checked, stage)

    def _check(
        self, source: str, item: Path | TextRecord, meta: dict[str, str]
    ) -> FileResult | Todo:
        """The checks and the content hash: an unchanged input is its result, without parsing."""
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
        return Todo(source, item, meta, digest, size, "updated" if existing else "added", opened)

    def _make(self, todo: Todo, stage: _StageReport) -> _Pending | _Streamed:
        """Parse and chunk: the whole document, or its head and the rest to come (streamed)."""
        stage(todo.source, "parsing")
        made = make_chunks(todo, self.embedder.count_tokens, self.config)
        stage(todo.source, "chunking")
        if isinstance(made, _Streamed):
            return made
        doc, head = made
        texts = [indexed_text(doc.title, c.heading_path, c.text) for c in head]
        return _Pending(todo.source, doc, head, texts, todo.status)

    def _flush(
        self,
        pending: list[_Pending],
        stage: _StageReport,
        embedded: Mapping[str, np.ndarray] | None = None,
    ) -> Iterator[FileResult]:
        """Embed what the pending documents lack, then write each in its own transaction.
        `embedded`: the vectors of the group's runs, embedded already (by workers)."""
        if not pending:
            return
        by_hash = _texts_by_hash(pending)
        new: dict[str, np.ndarray] = dict(embedded or {})
        missing = [] if embedded is not None else sorted(self.store.chunks.missing_vectors(by_hash))
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


def _texts_by_hash(pending: list[_Pending]) -> dict[str, str]:
    """The distinct indexed texts of the pending documents, by text hash."""
    by_hash: dict[str, str] = {}
    for p in pending:
        by_hash.update({c.text_hash: t for c, t in zip(p.chunks, p.texts, strict=True)})
    return by_hash


def _reporting(
    report: IngestReport, total: int, progress: Progress | None
) -> tuple[Callable[[FileResult], None], _StageReport]:
    """(finish, stage): record a result in `report`, and tell `progress` of results and stages."""

    def finish(result: FileResult) -> None:
        report.results.append(result)
        if progress:
            progress(IngestEvent(len(report.results), total, result))

    def stage(source: str, name: Stage, fraction: float = 0.0) -> None:
        if progress:
            progress(IngestEvent(len(report.results), total, None, source, name, fraction))

    return finish, stage


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
