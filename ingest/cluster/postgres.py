"""The cluster backend's record: documents, chunks and vectors in PostgreSQL (psycopg 3).

One knowledge base is one PostgreSQL schema (`name`). Every committed write raises
`meta.generation`, as the embedded store's SQLite does. What Milvus must still be told about a
write (chunks to index, chunks to drop) is written to `index_outbox` in the same transaction,
so a process killed between the PostgreSQL commit and the Milvus update leaves the work on
record, and the next writer (or `rag doctor`) finishes it.

Like the embedded store, each thread has its own connection: a reader's REPEATABLE READ
transaction is a snapshot of one committed generation while another thread or process writes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from ingest.errors import DiskFull, StoreError
from ingest.ports import Scored, StoreCounts
from ingest.store.database import ReadWriteLock
from ingest.types import Chunk, ChunkHit, DocumentInfo, SearchFilter, match_documents

NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
DOC_COLS = "id, source, name, title, format, content_hash, size, n_chunks, ingested_at, metadata"
CHUNK_COLS = "pk, id, doc_id, ordinal, text, text_hash, heading_path, page, kind, n_tokens"
CHUNK_PAGE = 256  # chunks a page of `iter_chunks_of`, as in the embedded store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('generation', '0') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS documents(
  id TEXT PRIMARY KEY, source TEXT NOT NULL UNIQUE, name TEXT NOT NULL, title TEXT NOT NULL,
  format TEXT NOT NULL, content_hash TEXT NOT NULL, size BIGINT NOT NULL,
  n_chunks INTEGER NOT NULL, ingested_at DOUBLE PRECISION NOT NULL,
  metadata JSONB NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS chunks(
  pk BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
  text TEXT NOT NULL, text_hash TEXT NOT NULL, heading_path JSONB NOT NULL, page INTEGER,
  kind TEXT NOT NULL, n_tokens INTEGER NOT NULL, indexed_text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc_ordinal ON chunks(doc_id, ordinal);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE TABLE IF NOT EXISTS embeddings(text_hash TEXT PRIMARY KEY, vector BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS index_outbox(pk BIGINT PRIMARY KEY, op TEXT NOT NULL);
"""


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise StoreError(
            f"cluster knowledge-base name {name!r} must be lower-case letters, digits and _, "
            "starting with a letter, at most 41 characters (RAG_CLUSTER_NAME)"
        )
    return name


def _doc(row: Sequence[Any]) -> DocumentInfo:
    did, source, name, title, fmt, content_hash, size, n_chunks, ingested_at, meta = row
    return DocumentInfo(
        did, source, name, title, fmt, content_hash, int(size), n_chunks, ingested_at, meta
    )


def _chunk(row: Sequence[Any]) -> Chunk:
    _, cid, doc_id, ordinal, text, text_hash, path, page, kind, n_tokens = row
    return Chunk(cid, doc_id, ordinal, text, text_hash, tuple(path), page, kind, n_tokens)


def glob_regex(glob: str) -> str:
    """A glob (`*`, `?`, `[…]`, `[!…]`, case-sensitive, as SQLite's GLOB) as an anchored
    POSIX regular expression for PostgreSQL's `~`."""
    out, i = ["^"], 0
    while i < len(glob):
        c = glob[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif (
            c == "[" and (end := glob.find("]", i + 1 if glob[i : i + 1] in ("!", "^") else i)) > 0
        ):
            body = glob[i:end]
            i = end + 1
            neg = body[:1] in ("!", "^")
            body = body[1:] if neg else body
            out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
        else:
            out.append(re.escape(c))
    return "".join(out) + "$"


def filter_sql(flt: SearchFilter | None, doc: str = "d") -> tuple[str, list[Any]]:
    """The filter as a condition on the documents table aliased `doc` (pushed down)."""
    if flt is None or flt.empty:
        return "TRUE", []
    conds: list[str] = []
    args: list[Any] = []
    if flt.doc_ids:
        conds.append(f"{doc}.id = ANY(%s)")
        args.append(list(flt.doc_ids))
    if flt.path_glob:
        conds.append(f"({doc}.source ~ %s OR {doc}.name ~ %s)")
        args += [glob_regex(flt.path_glob)] * 2
    for key, values in flt.metadata_alternatives().items():
        # JSON equality, as the embedded store's json_each: the number 2024 is not "2024"
        conds.append(f"({doc}.metadata -> %s) IN (SELECT jsonb_array_elements(%s::jsonb))")
        args += [key, json.dumps(values)]
    return " AND ".join(conds), args


class PgDatabase:
    """One knowledge base's schema, with a connection per thread and generation-counted writes."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, check_name(name)
        self.lock = ReadWriteLock()
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, psycopg.Connection[Any]]] = []
        self._all_lock = threading.Lock()
        self._closed = False

    def create(self) -> None:
        """The schema and tables, idempotently (two processes creating at once included)."""
        db = self.conn()
        with db.transaction():
            # the same key as graph.postgres_store.schema_lock_key: one creator of a schema at a time
            db.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"rag schema {self.name}",),
            )
            db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.name)))
            db.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.name)))
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                db.execute(stmt)

    def exists(self) -> bool:
        row = (
            self.conn()
            .execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
                (self.name,),
            )
            .fetchone()
        )
        return row is not None

    def conn(self) -> psycopg.Connection[Any]:
        db: psycopg.Connection[Any] | None = getattr(self._local, "db", None)
        if db is None or db.closed:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                db = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.OperationalError as e:
                raise StoreError(
                    f"cannot reach PostgreSQL at {_safe(self.url)} (RAG_POSTGRES_URL; "
                    f"`scripts/services.sh up` starts one on loopback): {e}"
                ) from e
            db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.name)))
            self._local.db = db
            with self._all_lock:
                for thread, old in self._all:
                    if not thread.is_alive():
                        old.close()
                self._all = [(t, c) for t, c in self._all if t.is_alive()]
                self._all.append((threading.current_thread(), db))
        return db

    def connect_extra(self) -> psycopg.Connection[Any]:
        """A connection of its own (the writer's advisory lock), closed by the caller."""
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def close(self) -> None:
        with self._all_lock:
            self._closed = True
            for _, db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    def rows(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.conn().execute(query.encode(), args).fetchall()

    def generation(self) -> int:
        return int(self.rows("SELECT value FROM meta WHERE key = 'generation'")[0][0])

    def meta(self, key: str) -> str | None:
        rows = self.rows("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A REPEATABLE READ transaction on this thread's connection, under the read lock."""
        with self.lock.shared() as outermost:
            db = self.conn()
            if not outermost or db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                yield
                return
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield
            finally:
                db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """BEGIN … COMMIT raising the generation; any exception rolls it all back. A full disk
        raises `DiskFull`."""
        db = self.conn()
        try:
            with db.transaction():
                yield db
                db.execute(
                    "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'"
                )
        except psycopg.errors.DiskFull as e:
            raise DiskFull(f"PostgreSQL at {_safe(self.url)} has no space left: {e}") from e


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PgChunkStore:
    """`ChunkStore` over the schema; reads outside a snapshot each see the last commit."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def generation(self) -> int:
        return self._db.generation()

    def counts(self) -> StoreCounts:
        with self._db.snapshot():
            docs = self._db.rows("SELECT COUNT(*) FROM documents")[0][0]
            chunks = self._db.rows("SELECT COUNT(*) FROM chunks")[0][0]
        return StoreCounts(int(docs), int(chunks))

    def documents(self) -> list[DocumentInfo]:
        rows = self._db.rows(f'SELECT {DOC_COLS} FROM documents ORDER BY source COLLATE "C"')
        return [_doc(r) for r in rows]

    def document(self, doc_id: str) -> DocumentInfo | None:
        rows = self._db.rows(f"SELECT {DOC_COLS} FROM documents WHERE id = %s", (doc_id,))
        return _doc(rows[0]) if rows else None

    def document_by_source(self, source: str) -> DocumentInfo | None:
        rows = self._db.rows(f"SELECT {DOC_COLS} FROM documents WHERE source = %s", (source,))
        return _doc(rows[0]) if rows else None

    def find_documents(self, ref: str) -> list[DocumentInfo]:
        return match_documents(self.documents(), ref)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._db.rows(
            f"SELECT {CHUNK_COLS} FROM chunks WHERE doc_id = %s ORDER BY ordinal", (doc_id,)
        )
        return [_chunk(r) for r in rows]

    def iter_chunks_of(self, doc_id: str) -> Iterator[Chunk]:
        after = -1
        while True:
            rows = self._db.rows(
                f"SELECT {CHUNK_COLS} FROM chunks WHERE doc_id = %s AND ordinal > %s "
                "ORDER BY ordinal LIMIT %s",
                (doc_id, after, CHUNK_PAGE),
            )
            yield from (_chunk(r) for r in rows)
            if len(rows) < CHUNK_PAGE:
                return
            after = rows[-1][3]

    def hits(self, scored: Sequence[Scored]) -> list[ChunkHit]:
        if not scored:
            return []
        cols = ", ".join(f"c.{c}" for c in CHUNK_COLS.split(", "))
        dcols = ", ".join(f"d.{c}" for c in DOC_COLS.split(", "))
        rows = self._db.rows(
            f"SELECT {cols}, {dcols} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.id = ANY(%s)",
            ([cid for cid, _ in scored],),
        )
        by_id = {r[1]: (_chunk(r[:10]), _doc(r[10:])) for r in rows}
        return [ChunkHit(*by_id[cid], s) for cid, s in scored if cid in by_id]

    def passing(self, chunk_ids: Iterable[str], flt: SearchFilter | None) -> set[str]:
        cond, args = filter_sql(flt)
        rows = self._db.rows(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.id = ANY(%s) AND {cond}",
            [list(chunk_ids), *args],
        )
        return {r[0] for r in rows}

    def missing_vectors(self, text_hashes: Iterable[str]) -> set[str]:
        wanted = set(text_hashes)
        have = {
            r[0]
            for r in self._db.rows(
                "SELECT text_hash FROM embeddings WHERE text_hash = ANY(%s)", (sorted(wanted),)
            )
        }
        return wanted - have

    def vectors(self, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self._db.rows(
            "SELECT text_hash, vector FROM embeddings WHERE text_hash = ANY(%s)",
            (sorted(set(text_hashes)),),
        )
        return {h: np.frombuffer(bytes(v), dtype=np.float32).copy() for h, v in rows}

    def doc_ids_passing(self, flt: SearchFilter) -> list[str]:
        cond, args = filter_sql(flt)
        return [r[0] for r in self._db.rows(f"SELECT d.id FROM documents d WHERE {cond}", args)]

    def ids_of(self, pks: Sequence[int]) -> dict[int, str]:
        return dict(self._db.rows("SELECT pk, id FROM chunks WHERE pk = ANY(%s)", (list(pks),)))

    # --- inside the store's write transaction ----------------------------------------------

    @staticmethod
    def source_doc(db: psycopg.Connection[Any], source: str) -> str | None:
        row = db.execute(
            "SELECT id FROM documents WHERE source = %s FOR UPDATE", (source,)
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def insert_chunks(
        db: psycopg.Connection[Any],
        chunks: Sequence[Chunk],
        texts: Sequence[str],
        vectors: Mapping[str, np.ndarray],
    ) -> list[int]:
        """Write chunks, their indexed texts and new vectors; returns the chunks' keys, each
        queued in the outbox for Milvus."""
        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO embeddings VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()],
            )
            cur.executemany(
                "INSERT INTO chunks(id, doc_id, ordinal, text, text_hash, heading_path, page, "
                "kind, n_tokens, indexed_text) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                "RETURNING pk",
                [(c.id, c.doc_id, c.ordinal, c.text, c.text_hash,
                  json.dumps(list(c.heading_path), ensure_ascii=False), c.page, c.kind,
                  c.n_tokens, t) for c, t in zip(chunks, texts, strict=True)],
                returning=True,
            )  # fmt: skip
            pks: list[int] = []
            while chunks:
                row = cur.fetchone()
                if row is not None:
                    pks.append(int(row[0]))
                if not cur.nextset():
                    break
            cur.executemany(
                "INSERT INTO index_outbox VALUES (%s, 'upsert') "
                "ON CONFLICT (pk) DO UPDATE SET op = 'upsert'",
                [(pk,) for pk in pks],
            )
        return pks

    @staticmethod
    def insert_document(db: psycopg.Connection[Any], doc: DocumentInfo) -> None:
        db.execute(f"INSERT INTO documents({DOC_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", (
            doc.id, doc.source, doc.name, doc.title, doc.format, doc.content_hash,
            doc.size, doc.n_chunks, doc.ingested_at,
            json.dumps(dict(doc.metadata), ensure_ascii=False, sort_keys=True)))  # fmt: skip

    @staticmethod
    def delete(db: psycopg.Connection[Any], doc_id: str) -> tuple[list[int], set[str]]:
        """Remove the document and its chunks, queueing their removal from Milvus."""
        rows = db.execute(
            "DELETE FROM chunks WHERE doc_id = %s RETURNING pk, text_hash", (doc_id,)
        ).fetchall()
        db.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
        pks = [int(r[0]) for r in rows]
        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO index_outbox VALUES (%s, 'delete') "
                "ON CONFLICT (pk) DO UPDATE SET op = 'delete'",
                [(pk,) for pk in pks],
            )
        return pks, {r[1] for r in rows}

    @staticmethod
    def gc_embeddings(db: psycopg.Connection[Any], hashes: Iterable[str]) -> None:
        """Drop the vectors of `hashes` that no chunk refers to any more."""
        db.execute(
            "DELETE FROM embeddings e WHERE e.text_hash = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.text_hash = e.text_hash)",
            (sorted(set(hashes)),),
        )
