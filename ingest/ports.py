"""The storage ports: what the rest of the product may ask of a knowledge base's storage.

Only chunk ids (content hashes), scores and the dataclasses of `ingest.types` cross them; how a
backend keys its rows (SQLite rowids, FAISS int64 ids, Milvus primary keys) stays inside it. A
filter travels as a `SearchFilter` value that each backend pushes down in its own language (SQL,
a FAISS id selector, a Milvus expression). The embedded backend (`ingest.store`, SQLite + FAISS +
FTS5 in one directory) and the in-memory fake (`ingest.store.memory`) implement them, and
tests/contract runs one test class against both, so a cluster backend is done when it passes too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ingest.types import Chunk, ChunkHit, DocumentInfo, SearchFilter

Scored = tuple[str, float]
"""A chunk id with a retriever's score; higher is better."""


@dataclass(frozen=True)
class StoreCounts:
    documents: int
    chunks: int


@dataclass(frozen=True)
class ChunkBatch:
    """Part of a document on its way into the store (`Store.write_document`): chunks in reading
    order, their indexed texts, and vectors the store lacks, by text hash (for these chunks or
    for chunks of an earlier batch of the same document)."""

    chunks: Sequence[Chunk] = ()
    texts: Sequence[str] = ()
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict)


class ChunkStore(Protocol):
    """Documents, chunks and their metadata: the system of record that indexes derive from."""

    def generation(self) -> int:
        """A counter that every committed write raises; caches derived from the store key on it."""
        ...

    def counts(self) -> StoreCounts: ...

    def documents(self) -> list[DocumentInfo]:
        """Every document, ordered by source."""
        ...

    def document(self, doc_id: str) -> DocumentInfo | None: ...

    def document_by_source(self, source: str) -> DocumentInfo | None: ...

    def find_documents(self, ref: str) -> list[DocumentInfo]:
        """Documents a user may mean by `ref`: an id (or a 6+ character prefix), a source path,
        a file name, or a glob on the source path, tried in that order."""
        ...

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in reading order."""
        ...

    def iter_chunks_of(self, doc_id: str) -> Iterator[Chunk]:
        """The same chunks in the same order, read a page at a time: what walks a large
        document (the graph's extraction) holds one page of its text, not all of it."""
        ...

    def hits(self, scored: Sequence[Scored]) -> list[ChunkHit]:
        """Resolve (chunk id, score) pairs into hits, in the given order; unknown ids are skipped."""
        ...

    def passing(self, chunk_ids: Iterable[str], flt: SearchFilter | None) -> set[str]:
        """Those of `chunk_ids` that exist and pass the filter (all existing ones without one)."""
        ...

    def missing_vectors(self, text_hashes: Iterable[str]) -> set[str]:
        """Which of these chunk texts have no stored embedding (unchanged text is not re-embedded)."""
        ...

    def vectors(self, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of these chunk texts (float32), by text hash; unknown hashes
        are left out. What a migration copies instead of embedding again."""
        ...


class DenseIndex(Protocol):
    """Nearest chunks by inner product of L2-normalised vectors (cosine)."""

    def search(
        self, query: np.ndarray, k: int, flt: SearchFilter | None = None
    ) -> list[Scored]: ...


class KeywordIndex(Protocol):
    """BM25 over the chunks' indexed text; the index tokenises the query its own way."""

    def search(self, query: str, k: int, flt: SearchFilter | None = None) -> list[Scored]: ...


class Store(Protocol):
    """One knowledge base: its chunk store and the two indexes, written together.

    A write (`put_document`, `delete_document`) reaches the chunk store and both indexes as one
    unit: a reader inside `reading()` sees all of it or none of it.
    """

    @property
    def location(self) -> str:
        """Where the store lives, for messages (a directory, a DSN)."""
        ...

    @property
    def chunks(self) -> ChunkStore: ...

    @property
    def dense(self) -> DenseIndex: ...

    @property
    def keywords(self) -> KeywordIndex: ...

    def reading(self) -> AbstractContextManager[None]:
        """One consistent view for several reads (a retrieval's dense, keyword and hit lookups)."""
        ...

    def writing(self, wait: float | None = None) -> AbstractContextManager[None]:
        """Hold the store's single-writer lock, waiting up to `wait` seconds for another writer;
        raises `StoreLocked` when it is not free in time."""
        ...

    def put_document(
        self,
        doc: DocumentInfo,
        chunks: Sequence[Chunk],
        texts: Sequence[str],
        vectors: Mapping[str, np.ndarray],
    ) -> None:
        """Add a document, replacing any with the same source. `texts` are the chunks' indexed
        texts (title, headings, body) for the keyword index; `vectors` maps text hashes to the
        embeddings the store lacks (`missing_vectors`)."""
        ...

    def write_document(self, doc: DocumentInfo, batches: Iterable[ChunkBatch]) -> DocumentInfo:
        """`put_document` for a document too large to hold: its chunks come in batches, which
        the store reads inside the one write, so an error raised while making a batch (a file
        found corrupt halfway, a cancelled job, a killed process) leaves no part of it and any
        earlier version of it whole. Returns the document as written, `n_chunks` counted."""
        ...

    def delete_document(self, doc_id: str) -> None:
        """Remove a document, its chunks and their index entries; `DocumentNotFound` if absent."""
        ...

    def close(self) -> None: ...
