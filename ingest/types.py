"""Plain dataclasses that cross the ingest boundary: no SQLite row or FAISS index leaves `ingest`."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ingest.errors import UsageError

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

    @property
    def section(self) -> str:
        """The heading path in one line, levels joined by " > " (what every surface shows)."""
        return " > ".join(self.heading_path)


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
    # what the caller said about the document (team=infra, year=2024): string keys and values,
    # kept with the document and matched by `SearchFilter.metadata`
    metadata: Mapping[str, str] = field(default_factory=dict, compare=False)


MAX_METADATA_KEYS = 64
MAX_METADATA_CHARS = 1000


def check_metadata(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Document metadata as the store keeps it: string keys, scalar values as strings
    (true/false for booleans, so `--where reviewed=true` matches a JSON `true`).
    Nested values are refused rather than flattened: a filter could not name them."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise UsageError("metadata must be an object of key: value pairs")
    if len(raw) > MAX_METADATA_KEYS:
        raise UsageError(f"metadata has {len(raw)} keys; at most {MAX_METADATA_KEYS}")
    clean: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            raise UsageError(f"metadata key {key!r} must be a non-empty string of ≤100 characters")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            raise UsageError(
                f"metadata {key!r} must be a string, number or boolean, not {type(value).__name__}"
            )
        if len(text) > MAX_METADATA_CHARS:
            raise UsageError(f"metadata {key!r} is longer than {MAX_METADATA_CHARS} characters")
        clean[key.strip()] = text
    return clean


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
            parts.append(self.chunk.section)
        return ", ".join(parts)


@dataclass(frozen=True)
class SearchFilter:
    """Restricts retrieval to some documents: by id, by a glob on the source path (or file
    name), and by metadata. Every part given must hold; within `metadata`, pairs with the same
    key are alternatives (`(("lang", "en"), ("lang", "zh"))` is lang en or zh) and different keys
    must all match."""

    doc_ids: tuple[str, ...] = ()
    path_glob: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.doc_ids and not self.path_glob and not self.metadata

    def metadata_alternatives(self) -> dict[str, list[str]]:
        """The metadata pairs grouped by key: each key's accepted values."""
        grouped: dict[str, list[str]] = {}
        for key, value in self.metadata:
            grouped.setdefault(key, []).append(value)
        return grouped

    def admits(self, doc: DocumentInfo) -> bool:
        """Whether the document passes (the rule each backend pushes down its own way)."""
        if self.doc_ids and doc.id not in self.doc_ids:
            return False
        glob = self.path_glob
        if glob and not (
            fnmatch.fnmatchcase(doc.source, glob) or fnmatch.fnmatchcase(doc.name, glob)
        ):
            return False
        return self.admits_metadata(doc.metadata)

    def admits_metadata(self, metadata: Mapping[str, str]) -> bool:
        """Whether metadata passes the `metadata` part alone (a file still in a job has
        metadata but no stored document yet)."""
        return all(
            metadata.get(key) in values for key, values in self.metadata_alternatives().items()
        )
