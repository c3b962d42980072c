"""An in-memory `Store`: the fake the contract tests hold the embedded store to.

Plain dicts, brute-force cosine and a textbook BM25 (k1 1.2, b 0.75, the same tokens as the
embedded index), all under one lock. It shows what a backend must provide and nothing more:
no rowids, filters applied to documents, writes that land whole.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from ingest.errors import DocumentNotFound, StoreLocked
from ingest.keywords import keyword_tokens
from ingest.ports import ChunkBatch, Scored, StoreCounts
from ingest.types import Chunk, ChunkHit, DocumentInfo, SearchFilter, match_documents

_K1, _B = 1.2, 0.75


@dataclass
class _State:
    docs: dict[str, DocumentInfo]
    chunks: dict[str, Chunk]  # by chunk id, insertion order = write order
    tokens: dict[str, list[str]]  # chunk id → keyword tokens
    vectors: dict[str, np.ndarray]  # text hash → vector
    generation: int = 0


def _passes(doc: DocumentInfo, flt: SearchFilter | None) -> bool:
    return flt is None or flt.admits(doc)


class MemoryChunkStore:
    def __init__(self, state: _State, lock: threading.RLock) -> None:
        self._s, self._lock = state, lock

    def generation(self) -> int:
        return self._s.generation

    def counts(self) -> StoreCounts:
        return StoreCounts(len(self._s.docs), len(self._s.chunks))

    def documents(self) -> list[DocumentInfo]:
        with self._lock:
            return sorted(self._s.docs.values(), key=lambda d: d.source)

    def document(self, doc_id: str) -> DocumentInfo | None:
        return self._s.docs.get(doc_id)

    def document_by_source(self, source: str) -> DocumentInfo | None:
        with self._lock:
            return next((d for d in self._s.docs.values() if d.source == source), None)

    def find_documents(self, ref: str) -> list[DocumentInfo]:
        return match_documents(self.documents(), ref)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        with self._lock:
            return sorted((c for c in self._s.chunks.values() if c.doc_id == doc_id),
                          key=lambda c: c.ordinal)  # fmt: skip

    def iter_chunks_of(self, doc_id: str) -> Iterator[Chunk]:
        yield from self.chunks_of(doc_id)

    def hits(self, scored: Sequence[Scored]) -> list[ChunkHit]:
        with self._lock:
            chunks, docs = self._s.chunks, self._s.docs
            return [
                ChunkHit(chunks[cid], docs[chunks[cid].doc_id], s)
                for cid, s in scored
                if cid in chunks
            ]

    def passing(self, chunk_ids: Iterable[str], flt: SearchFilter | None) -> set[str]:
        with self._lock:
            chunks, docs = self._s.chunks, self._s.docs
            return {c for c in chunk_ids if c in chunks and _passes(docs[chunks[c].doc_id], flt)}

    def missing_vectors(self, text_hashes: Iterable[str]) -> set[str]:
        return set(text_hashes) - self._s.vectors.keys()

    def vectors(self, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        with self._lock:
            have = self._s.vectors
            return {h: np.array(have[h], dtype=np.float32) for h in set(text_hashes) if h in have}


class MemoryDenseIndex:
    def __init__(self, state: _State, lock: threading.RLock) -> None:
        self._s, self._lock = state, lock

    def search(self, query: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[Scored]:
        with self._lock:
            ids = [c.id for c in self._s.chunks.values() if _passes(self._s.docs[c.doc_id], flt)]
            if not ids or k <= 0:
                return []
            m = np.stack([self._s.vectors[self._s.chunks[c].text_hash] for c in ids])
            scores = m @ np.asarray(query, dtype=np.float32)
            order = np.argsort(-scores, kind="stable")[:k]
            return [(ids[i], float(scores[i])) for i in order]


class MemoryKeywordIndex:
    def __init__(self, state: _State, lock: threading.RLock) -> None:
        self._s, self._lock = state, lock

    def search(self, query: str, k: int, flt: SearchFilter | None = None) -> list[Scored]:
        terms = set(keyword_tokens(query))
        with self._lock:
            corpus = self._s.tokens
            if not terms or not corpus or k <= 0:
                return []
            avg = sum(map(len, corpus.values())) / len(corpus)
            df = Counter(t for toks in corpus.values() for t in set(toks) if t in terms)
            scored: list[Scored] = []
            for cid, toks in corpus.items():
                tf = Counter(t for t in toks if t in terms)
                if not tf or not _passes(self._s.docs[self._s.chunks[cid].doc_id], flt):
                    continue
                norm = _K1 * (1 - _B + _B * len(toks) / avg)
                score = sum(
                    math.log(1 + (len(corpus) - df[t] + 0.5) / (df[t] + 0.5))
                    * n * (_K1 + 1) / (n + norm)
                    for t, n in tf.items()
                )  # fmt: skip
                scored.append((cid, score))
            return sorted(scored, key=lambda s: (-s[1], s[0]))[:k]


class MemoryStore:
    """Everything in dicts; `writing()` is a process-local lock, `reading()` the same lock."""

    def __init__(self, name: str = "memory") -> None:
        self._name = name
        self._state = _State({}, {}, {}, {})
        self._lock = threading.RLock()
        self._writer = threading.Lock()
        self._chunks = MemoryChunkStore(self._state, self._lock)
        self._dense = MemoryDenseIndex(self._state, self._lock)
        self._keywords = MemoryKeywordIndex(self._state, self._lock)

    @property
    def location(self) -> str:
        return self._name

    @property
    def chunks(self) -> MemoryChunkStore:
        return self._chunks

    @property
    def dense(self) -> MemoryDenseIndex:
        return self._dense

    @property
    def keywords(self) -> MemoryKeywordIndex:
        return self._keywords

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._lock:
            yield

    @contextmanager
    def writing(self, wait: float | None = None) -> Iterator[None]:
        if not self._writer.acquire(timeout=5.0 if wait is None else wait):
            raise StoreLocked(f"another writer holds {self._name}")
        try:
            yield
        finally:
            self._writer.release()

    def put_document(
        self,
        doc: DocumentInfo,
        chunks: Sequence[Chunk],
        texts: Sequence[str],
        vectors: Mapping[str, np.ndarray],
    ) -> None:
        self.write_document(doc, [ChunkBatch(chunks, texts, vectors)])

    def write_document(self, doc: DocumentInfo, batches: Iterable[ChunkBatch]) -> DocumentInfo:
        chunks: list[Chunk] = []
        tokens: dict[str, list[str]] = {}
        vectors: dict[str, np.ndarray] = {}
        for batch in batches:  # all read before anything changes: a failing batch changes nothing
            if len(batch.texts) != len(batch.chunks):
                raise ValueError(f"{len(batch.chunks)} chunks but {len(batch.texts)} indexed texts")
            chunks += batch.chunks
            tokens.update(
                {c.id: keyword_tokens(t) for c, t in zip(batch.chunks, batch.texts, strict=True)}
            )
            vectors.update({h: np.asarray(v, np.float32) for h, v in batch.vectors.items()})
        written = replace(doc, n_chunks=len(chunks))
        with self._lock:
            old = self._chunks.document_by_source(doc.source)
            if old is not None:
                self._drop(old.id)
            self._state.docs[doc.id] = written
            self._state.vectors.update(vectors)
            for c in chunks:
                self._state.chunks[c.id] = c
            self._state.tokens.update(tokens)
            self._gc()
            self._state.generation += 1
        return written

    def delete_document(self, doc_id: str) -> None:
        with self._lock:
            if doc_id not in self._state.docs:
                raise DocumentNotFound(f"no document with id {doc_id}")
            self._drop(doc_id)
            self._gc()
            self._state.generation += 1

    def _drop(self, doc_id: str) -> None:
        del self._state.docs[doc_id]
        for cid in [c.id for c in self._state.chunks.values() if c.doc_id == doc_id]:
            del self._state.chunks[cid]
            del self._state.tokens[cid]

    def _gc(self) -> None:
        used = {c.text_hash for c in self._state.chunks.values()}
        for h in set(self._state.vectors) - used:
            del self._state.vectors[h]

    def close(self) -> None:
        pass
