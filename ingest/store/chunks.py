"""The embedded `ChunkStore`: documents, chunks and the embedding cache in SQLite.

Chunks have an integer rowid besides their content-hash id because FTS5 and FAISS key rows by
integers; the rowid never leaves `ingest.store`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ingest.ports import Scored, StoreCounts
from ingest.store.database import Database, filter_sql
from ingest.types import Chunk, ChunkHit, DocumentInfo, SearchFilter, match_documents

DOC_COLS = "id, source, name, title, format, content_hash, size, n_chunks, ingested_at, metadata"
CHUNK_PAGE = 256  # chunks a page of `iter_chunks_of`: about 0.5 MB of text
CHUNK_COLS = "rowid, id, doc_id, ordinal, text, text_hash, heading_path, page, kind, n_tokens"
_JOINED = (
    f"SELECT c.{CHUNK_COLS.replace(', ', ', c.')}, d.{DOC_COLS.replace(', ', ', d.')} "
    "FROM chunks c JOIN documents d ON d.id = c.doc_id"
)


def _doc(row: Sequence[Any]) -> DocumentInfo:
    did, source, name, title, fmt, content_hash, size, n_chunks, ingested_at, meta = row
    return DocumentInfo(
        did, source, name, title, fmt, content_hash, size, n_chunks, ingested_at, json.loads(meta)
    )


def _chunk(row: Sequence[Any]) -> Chunk:
    _, cid, doc_id, ordinal, text, text_hash, path, page, kind, n_tokens = row
    return Chunk(
        cid, doc_id, ordinal, text, text_hash, tuple(json.loads(path)), page, kind, n_tokens
    )


class SqliteChunkStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- reads ---------------------------------------------------------------------------

    def generation(self) -> int:
        return self._db.generation()

    def counts(self) -> StoreCounts:
        with self._db.snapshot():
            docs = self._db.rows("SELECT COUNT(*) FROM documents")[0][0]
            chunks = self._db.rows("SELECT COUNT(*) FROM chunks")[0][0]
        return StoreCounts(int(docs), int(chunks))

    def documents(self) -> list[DocumentInfo]:
        return [_doc(r) for r in self._db.rows(f"SELECT {DOC_COLS} FROM documents ORDER BY source")]

    def document(self, doc_id: str) -> DocumentInfo | None:
        rows = self._db.rows(f"SELECT {DOC_COLS} FROM documents WHERE id = ?", (doc_id,))
        return _doc(rows[0]) if rows else None

    def document_by_source(self, source: str) -> DocumentInfo | None:
        rows = self._db.rows(f"SELECT {DOC_COLS} FROM documents WHERE source = ?", (source,))
        return _doc(rows[0]) if rows else None

    def find_documents(self, ref: str) -> list[DocumentInfo]:
        return match_documents(self.documents(), ref)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._db.rows(
            f"SELECT {CHUNK_COLS} FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
        )
        return [_chunk(r) for r in rows]

    def iter_chunks_of(self, doc_id: str) -> Iterator[Chunk]:
        after = -1
        while True:
            rows = self._db.rows(
                f"SELECT {CHUNK_COLS} FROM chunks WHERE doc_id = ? AND ordinal > ? "
                "ORDER BY ordinal LIMIT ?",
                (doc_id, after, CHUNK_PAGE),
            )
            yield from (_chunk(r) for r in rows)
            if len(rows) < CHUNK_PAGE:
                return
            after = rows[-1][3]

    def hits(self, scored: Sequence[Scored]) -> list[ChunkHit]:
        if not scored:
            return []
        rows = self._db.rows(
            f"{_JOINED} WHERE c.id IN (SELECT value FROM json_each(?))",
            (json.dumps([cid for cid, _ in scored]),),
        )
        by_id = {r[1]: (_chunk(r[:10]), _doc(r[10:])) for r in rows}
        return [ChunkHit(*by_id[cid], s) for cid, s in scored if cid in by_id]

    def passing(self, chunk_ids: Iterable[str], flt: SearchFilter | None) -> set[str]:
        cond, args = filter_sql(flt)
        rows = self._db.rows(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.id IN (SELECT value FROM json_each(?)) AND {cond}",
            [json.dumps(list(chunk_ids)), *args],
        )
        return {r[0] for r in rows}

    def missing_vectors(self, text_hashes: Iterable[str]) -> set[str]:
        wanted = set(text_hashes)
        have = {
            r[0]
            for r in self._db.rows(
                "SELECT text_hash FROM embeddings WHERE text_hash IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(wanted)),),
            )
        }
        return wanted - have

    def vectors(self, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self._db.rows(
            "SELECT text_hash, vector FROM embeddings WHERE text_hash IN "
            "(SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(text_hashes))),),
        )
        return {h: np.frombuffer(v, dtype=np.float32).copy() for h, v in rows}

    # --- inside the store's write transaction ----------------------------------------------

    @staticmethod
    def source_doc(db: sqlite3.Connection, source: str) -> str | None:
        row = db.execute("SELECT id FROM documents WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def insert_chunks(
        db: sqlite3.Connection, chunks: Sequence[Chunk], vectors: Mapping[str, np.ndarray]
    ) -> list[int]:
        """Write chunks and new vectors; returns the chunks' rowids."""
        db.executemany(
            "INSERT OR IGNORE INTO embeddings VALUES (?, ?)",
            [(h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()],
        )
        rowids: list[int] = []
        for c in chunks:
            cur = db.execute(
                f"INSERT INTO chunks({CHUNK_COLS}) VALUES (NULL,?,?,?,?,?,?,?,?,?)",
                (c.id, c.doc_id, c.ordinal, c.text, c.text_hash,
                 json.dumps(list(c.heading_path), ensure_ascii=False), c.page, c.kind, c.n_tokens),
            )  # fmt: skip
            rowids.append(int(cur.lastrowid or 0))
        return rowids

    @staticmethod
    def insert_document(db: sqlite3.Connection, doc: DocumentInfo) -> None:
        """Write the document's row: last, once its chunks are in and counted."""
        db.execute(f"INSERT INTO documents({DOC_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)", (
            doc.id, doc.source, doc.name, doc.title, doc.format, doc.content_hash,
            doc.size, doc.n_chunks, doc.ingested_at,
            json.dumps(dict(doc.metadata), ensure_ascii=False, sort_keys=True)))  # fmt: skip

    @staticmethod
    def delete(db: sqlite3.Connection, doc_id: str) -> tuple[list[int], set[str]]:
        """Remove the document and its chunks; returns the rowids and text hashes they had."""
        rows = db.execute("SELECT rowid, text_hash FROM chunks WHERE doc_id = ?", (doc_id,))
        rowids, hashes = [], set()
        for rowid, text_hash in rows:
            rowids.append(rowid)
            hashes.add(text_hash)
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return rowids, hashes

    @staticmethod
    def gc_embeddings(db: sqlite3.Connection, hashes: Iterable[str]) -> None:
        """Drop the vectors of `hashes` (the texts a write removed) that no chunk refers to
        any more (shared text keeps its vector). Only those: a sweep of the whole table in
        every document's write made an ingest quadratic (48 ms a write at 10k chunks)."""
        db.execute(
            "DELETE FROM embeddings WHERE text_hash IN (SELECT value FROM json_each(?)) "
            "AND text_hash NOT IN (SELECT text_hash FROM chunks WHERE text_hash IN "
            "(SELECT value FROM json_each(?)))",
            (json.dumps(sorted(set(hashes))),) * 2,
        )
