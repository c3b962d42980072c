"""Plain dataclasses that cross the ingest boundary: no SQLite row or FAISS index leaves `ingest`."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["heading", "paragraph", "table", "list", "code"]


@dataclass(frozen=True)
class Block:
    """One structural unit a loader found, in reading order.

    `heading_path` is the chain of headings the block sits under (the heading itself for a
    heading block); `page` is the PDF page or PPTX slide number, 1-based, when the format has one.
    Table blocks hold one row per line, cells separated by " | ", so chunking can split between
    rows and never inside one.
    """

    kind: BlockKind
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """What a loader returns: the blocks of one file and what it knows about the file."""

    source: str
    title: str
    format: str
    blocks: list[Block]
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a document, keyed by a content hash.

    `id` hashes the document id with the text, so identical text in two documents stays two
    chunks; `text_hash` hashes the text alone, so its embedding is computed once.
    """

    id: str
    doc_id: str
    ordinal: int
    text: str
    text_hash: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    kind: str = "paragraph"
    n_tokens: int = 0


@dataclass(frozen=True)
class DocumentInfo:
    """A document as the store knows it."""

    id: str
    source: str
    name: str
    title: str
    format: str
    content_hash: str
    size: int
    n_chunks: int
    ingested_at: float


def match_documents(docs: Sequence[DocumentInfo], ref: str) -> list[DocumentInfo]:
    """The documents a user may mean by `ref`: an id or a source path, then a 6+ character id
    prefix, then a file name, then a glob on the source path — the first rule that matches."""
    for match in (
        lambda d: d.id == ref or d.source == ref,
        lambda d: len(ref) >= 6 and d.id.startswith(ref),
        lambda d: d.name == ref,
        lambda d: fnmatch.fnmatch(d.source, ref),
    ):
        if found := [d for d in docs if match(d)]:
            return found
    return []


@dataclass(frozen=True)
class ChunkHit:
    """A chunk returned by a search, with the document it came from and its score."""

    chunk: Chunk
    document: DocumentInfo
    score: float

    @property
    def location(self) -> str:
        """Where the chunk sits inside its document: page or slide, then section path."""
        parts: list[str] = []
        if self.chunk.page is not None:
            unit = "slide" if self.document.format == "pptx" else "page"
            parts.append(f"{unit} {self.chunk.page}")
        if self.chunk.heading_path:
            parts.append(" > ".join(self.chunk.heading_path))
        return ", ".join(parts)


@dataclass(frozen=True)
class SearchFilter:
    """Restricts retrieval to some documents: by id and/or by a glob on the source path."""

    doc_ids: tuple[str, ...] = ()
    path_glob: str | None = None

    @property
    def empty(self) -> bool:
        return not self.doc_ids and not self.path_glob
