"""The embedded store: one directory holding SQLite (documents, chunks, vectors, FTS5 keyword
index), a FAISS cache of the vectors, and a manifest naming the embedder.

Consistency comes from SQLite: each document is written or deleted in one transaction, so a
process killed mid-ingest leaves every earlier document whole and no later one half-written.
The FAISS file is a cache derived from the SQLite rows, named by the store's generation
counter; a reader whose cache is stale rebuilds it in memory, so reads are safe beside a
running ingest (WAL mode lets them see the last committed state).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from ingest.atomic import sqlite_transaction, write_json_atomic
from ingest.errors import DocumentNotFound, EmbedderMismatch, StoreError, StoreLocked
from ingest.types import Chunk, ChunkHit, DocumentInfo, SearchFilter
from ingest.vector_index import FaissIndex, VectorIndex

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
DB_FILE = "store.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
  id TEXT PRIMARY KEY, source TEXT NOT NULL UNIQUE, name TEXT NOT NULL, title TEXT NOT NULL,
  format TEXT NOT NULL, content_hash TEXT NOT NULL, size INTEGER NOT NULL,
  n_chunks INTEGER NOT NULL, ingested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
  text TEXT NOT NULL, text_hash TEXT NOT NULL, heading_path TEXT NOT NULL, page INTEGER,
  kind TEXT NOT NULL, n_tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE TABLE IF NOT EXISTS embeddings(text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(tokens, tokenize='unicode61');
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
"""

_DOC_COLS = "id, source, name, title, format, content_hash, size, n_chunks, ingested_at"
_CHUNK_COLS = "rowid, id, doc_id, ordinal, text, text_hash, heading_path, page, kind, n_tokens"


def _doc(row: Sequence[Any]) -> DocumentInfo:
    return DocumentInfo(*row)


def _chunk(row: Sequence[Any]) -> Chunk:
    _, cid, doc_id, ordinal, text, text_hash, path, page, kind, n_tokens = row
    return Chunk(
        cid, doc_id, ordinal, text, text_hash, tuple(json.loads(path)), page, kind, n_tokens
    )


def fts_query(tokens: Iterable[str]) -> str:
    """An FTS5 MATCH expression OR-ing the quoted tokens (quoting disables FTS syntax)."""
    unique = dict.fromkeys(t for t in tokens if t.strip())
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)


class Store:
    """Documents, chunks, vectors and the keyword index of one store directory."""

    def __init__(self, root: Path, *, embedder_name: str, dim: int, create: bool = True) -> None:
        self.root = Path(root)
        self._check_manifest(embedder_name, dim, create)
        self._db = sqlite3.connect(
            self.root / DB_FILE, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._dim = dim
        self._index: VectorIndex | None = None
        self._index_gen = -1
        self._file_lock = FileLock(str(self.root / ".write.lock"))

    def _check_manifest(self, embedder_name: str, dim: int, create: bool) -> None:
        path = self.root / MANIFEST
        if path.is_file():
            m = json.loads(path.read_text("utf-8"))
            emb = m.get("embedder", {})
            if emb.get("name") != embedder_name or emb.get("dim") != dim:
                raise EmbedderMismatch(
                    f"store {self.root} was built with embedder {emb.get('name')} "
                    f"(dim {emb.get('dim')}), not {embedder_name} (dim {dim}); "
                    "use the same embedder or ingest into a new --store"
                )
            if m.get("schema_version") != SCHEMA_VERSION:
                raise StoreError(f"store {self.root} has schema {m.get('schema_version')}")
            return
        if not create:
            raise StoreError(f"no store at {self.root}; run `rag ingest PATH --store {self.root}`")
        if self.root.exists() and any(self.root.iterdir()):
            raise StoreError(f"{self.root} is not empty and holds no store manifest")
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            path,
            {
                "format": "rag-store",
                "schema_version": SCHEMA_VERSION,
                "embedder": {"name": embedder_name, "dim": dim},
                "created_at": time.time(),
            },
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing -------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store's write lock (one writer process at a time); save the vector cache after."""
        try:
            self._file_lock.acquire(timeout=0.5)
        except Timeout as e:
            raise StoreLocked(
                f"another process is writing to {self.root}; wait for it to finish "
                f"(lock file {self.root / '.write.lock'})"
            ) from e
        try:
            yield
            self._save_vector_cache()
        finally:
            self._file_lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with sqlite_transaction(self._db, self._lock) as db:
            yield db
            db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )

    def missing_vectors(self, text_hashes: Iterable[str]) -> set[str]:
        """Which of these texts have no stored embedding yet (unchanged chunks are not re-embedded)."""
        wanted = set(text_hashes)
        with self._lock:
            have = {
                r[0]
                for r in self._db.execute(
                    "SELECT text_hash FROM embeddings WHERE text_hash IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted(wanted)),),
                )
            }
        return wanted - have

    def put_document(
        self,
        doc: DocumentInfo,
        chunks: Sequence[Chunk],
        keyword_texts: Sequence[str],
        vectors: dict[str, np.ndarray],
    ) -> None:
        """Add a document (replacing any with the same source) in one transaction."""
        gen = self.generation()
        with self._transaction() as db:
            old = db.execute("SELECT id FROM documents WHERE source = ?", (doc.source,)).fetchone()
            removed = self._delete_rows(db, old[0]) if old else []
            db.execute(f"INSERT INTO documents({_DOC_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", (
                doc.id, doc.source, doc.name, doc.title, doc.format, doc.content_hash,
                doc.size, doc.n_chunks, doc.ingested_at))  # fmt: skip
            db.executemany(
                "INSERT OR IGNORE INTO embeddings VALUES (?, ?)",
                [(h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()],
            )
            added: list[int] = []
            for chunk, kw in zip(chunks, keyword_texts, strict=True):
                cur = db.execute(
                    f"INSERT INTO chunks({_CHUNK_COLS}) VALUES (NULL,?,?,?,?,?,?,?,?,?)",
                    (chunk.id, chunk.doc_id, chunk.ordinal, chunk.text, chunk.text_hash,
                     json.dumps(list(chunk.heading_path), ensure_ascii=False), chunk.page,
                     chunk.kind, chunk.n_tokens),
                )  # fmt: skip
                rowid = int(cur.lastrowid or 0)
                db.execute("INSERT INTO chunks_fts(rowid, tokens) VALUES (?, ?)", (rowid, kw))
                added.append(rowid)
            self._gc_embeddings(db)
        self._update_index(gen, removed, added)

    def delete_document(self, doc_id: str) -> None:
        gen = self.generation()
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
                raise DocumentNotFound(f"no document with id {doc_id}")
            removed = self._delete_rows(db, doc_id)
            self._gc_embeddings(db)
        self._update_index(gen, removed, [])

    def _delete_rows(self, db: sqlite3.Connection, doc_id: str) -> list[int]:
        rowids = [r[0] for r in db.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))]
        db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(r,) for r in rowids])
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return rowids

    @staticmethod
    def _gc_embeddings(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM embeddings WHERE text_hash NOT IN (SELECT text_hash FROM chunks)")

    # --- reading -------------------------------------------------------------------------

    def generation(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    def documents(self) -> list[DocumentInfo]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_DOC_COLS} FROM documents ORDER BY source").fetchall()
        return [_doc(r) for r in rows]

    def document_by_source(self, source: str) -> DocumentInfo | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_DOC_COLS} FROM documents WHERE source = ?", (source,)
            ).fetchone()
        return _doc(row) if row else None

    def find_documents(self, ref: str) -> list[DocumentInfo]:
        """Documents a user may mean by `ref`: an id (or its prefix), a source path, a file name."""
        docs = self.documents()
        for match in (
            lambda d: d.id == ref or d.source == ref,
            lambda d: len(ref) >= 6 and d.id.startswith(ref),
            lambda d: d.name == ref,
            lambda d: fnmatch.fnmatch(d.source, ref),
        ):
            found = [d for d in docs if match(d)]
            if found:
                return found
        return []

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_CHUNK_COLS} FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
            ).fetchall()
        return [_chunk(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            docs = self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return {"documents": int(docs), "chunks": int(chunks)}

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[ChunkHit]:
        """Resolve (rowid, score) pairs into hits, in the given order; vanished rows are skipped."""
        if not scored:
            return []
        with self._lock:
            rows = self._db.execute(
                f"SELECT c.{_CHUNK_COLS.replace(', ', ', c.')}, d.{_DOC_COLS.replace(', ', ', d.')} "
                "FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE c.rowid IN (SELECT value FROM json_each(?))",
                (json.dumps([r for r, _ in scored]),),
            ).fetchall()
        by_rowid = {r[0]: (_chunk(r[:10]), _doc(r[10:])) for r in rows}
        return [ChunkHit(by_rowid[r][0], by_rowid[r][1], s) for r, s in scored if r in by_rowid]

    def rowids_of(self, chunk_ids: Iterable[str]) -> dict[str, int]:
        """Chunk id → rowid, for ranking by id (the graph knows chunks by id)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, rowid FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(chunk_ids)),),
            ).fetchall()
        return dict(rows)

    def allowed_rowids(self, flt: SearchFilter | None) -> set[int] | None:
        """Chunk rowids passing the filter, or None when there is no filter."""
        if flt is None or flt.empty:
            return None
        sql = "SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE 1"
        args: list[Any] = []
        if flt.doc_ids:
            sql += " AND d.id IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(list(flt.doc_ids)))
        if flt.path_glob:
            sql += " AND (d.source GLOB ? OR d.name GLOB ?)"
            args += [flt.path_glob, flt.path_glob]
        with self._lock:
            return {r[0] for r in self._db.execute(sql, args)}

    def keyword_search(
        self, tokens: Sequence[str], k: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """BM25 over the FTS5 index; scores are positive, higher is better."""
        expr = fts_query(tokens)
        if not expr or k <= 0 or (allowed is not None and not allowed):
            return []
        sql = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
        args: list[Any] = [expr]
        if allowed is not None:
            sql += " AND rowid IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(sorted(allowed)))
        sql += " ORDER BY bm25(chunks_fts) LIMIT ?"
        args.append(k)
        with self._lock:
            return [(int(r), float(s)) for r, s in self._db.execute(sql, args)]

    # --- vectors -------------------------------------------------------------------------

    def vector_index(self) -> VectorIndex:
        """The FAISS index for the current generation: cached in memory, on disk, or rebuilt."""
        gen = self.generation()
        with self._lock:
            if self._index is None or self._index_gen != gen:
                path = self.root / f"vectors-{gen}.faiss"
                try:
                    self._index = FaissIndex.load(path)
                except (OSError, RuntimeError):  # absent, or replaced by a newer generation
                    self._index = self._rebuild_index()
                self._index_gen = gen
            return self._index

    def _rebuild_index(self) -> VectorIndex:
        rows = self._db.execute(
            "SELECT c.rowid, e.vector FROM chunks c JOIN embeddings e ON e.text_hash = c.text_hash"
        ).fetchall()
        index = FaissIndex(self._dim)
        if rows:
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            index.add(ids, vecs.reshape(len(rows), self._dim))
        return index

    def _update_index(self, gen_before: int, removed: list[int], added: list[int]) -> None:
        """Keep an in-memory index current after our own write, instead of rebuilding it."""
        with self._lock:
            if self._index is None or self._index_gen != gen_before:
                self._index = None
                return
            self._index.remove(removed)
            if added:
                rows = self._db.execute(
                    "SELECT c.rowid, e.vector FROM chunks c JOIN embeddings e "
                    "ON e.text_hash = c.text_hash WHERE c.rowid IN (SELECT value FROM json_each(?))",
                    (json.dumps(added),),
                ).fetchall()
                vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                ids = np.array([r[0] for r in rows], dtype=np.int64)
                self._index.add(ids, vecs.reshape(len(rows), self._dim))
            self._index_gen = gen_before + 1

    def _save_vector_cache(self) -> None:
        index = self.vector_index()
        gen = self._index_gen
        target = self.root / f"vectors-{gen}.faiss"
        if not target.exists():
            index.save(target)
        for old in self.root.glob("vectors-*.faiss"):
            if old != target:
                old.unlink(missing_ok=True)
