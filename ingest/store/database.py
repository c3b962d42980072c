"""The embedded store's SQLite file: schema, one connection per thread, snapshots and writes.

Why a connection per thread: SQLite gives each connection its own transaction, so a reader
thread's `BEGIN … COMMIT` is a snapshot of one committed generation (WAL mode lets it read
while another process writes), which one shared connection could give only one thread at a time.
In-process, a readers–writer lock keeps readers out while a write commits and the in-memory
indexes follow it, so no reader sees the rows of one generation with the vectors of another.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ingest.atomic import disk_full_raised, rollback
from ingest.types import SearchFilter

DB_FILE = "store.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
  id TEXT PRIMARY KEY, source TEXT NOT NULL UNIQUE, name TEXT NOT NULL, title TEXT NOT NULL,
  format TEXT NOT NULL, content_hash TEXT NOT NULL, size INTEGER NOT NULL,
  n_chunks INTEGER NOT NULL, ingested_at REAL NOT NULL, metadata TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS chunks(
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
  text TEXT NOT NULL, text_hash TEXT NOT NULL, heading_path TEXT NOT NULL, page INTEGER,
  kind TEXT NOT NULL, n_tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc_ordinal ON chunks(doc_id, ordinal);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE TABLE IF NOT EXISTS embeddings(text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(tokens, tokenize='unicode61');
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
"""


class ReadWriteLock:
    """Many readers or one writer; a waiting writer stops new readers, so writes are not starved.

    Re-entrant for readers (a retrieval inside a mode inside a read is still one read): the
    depth is kept per thread, and only the outermost acquire and release count.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0
        self._depth = threading.local()  # .n: this thread's read depth; .writing: it writes

    @contextmanager
    def shared(self) -> Iterator[bool]:
        """Yields True for the outermost read of this thread (a read inside this thread's own
        write passes through: the write already excludes everyone else)."""
        if getattr(self._depth, "writing", False):
            yield False
            return
        depth = getattr(self._depth, "n", 0)
        if depth == 0:
            with self._cond:
                while self._writer or self._waiting_writers:
                    self._cond.wait()
                self._readers += 1
        self._depth.n = depth + 1
        try:
            yield depth == 0
        finally:
            self._depth.n = depth
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if getattr(self._depth, "n", 0):
            raise RuntimeError("a write inside a read of the same thread would deadlock")
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        self._depth.writing = True
        try:
            yield
        finally:
            self._depth.writing = False
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Database:
    """The SQLite file, with a connection per thread and generation-counted transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = ReadWriteLock()
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._all_lock = threading.Lock()
        self._closed = False
        with disk_full_raised(path):
            db = self.conn()
            db.executescript(_SCHEMA)
        columns = {r[1] for r in db.execute("PRAGMA table_info(documents)")}
        if "metadata" not in columns:  # a store made before documents had metadata
            try:
                db.execute("ALTER TABLE documents ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'")
            except sqlite3.OperationalError as e:  # another process added it first
                if "duplicate column" not in str(e):
                    raise

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: each statement alone is a snapshot)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise sqlite3.ProgrammingError("the store is closed")
            # on a full disk even opening fails: WAL mode must create its -shm file
            with disk_full_raised(self.path):
                db = sqlite3.connect(
                    self.path, check_same_thread=False, isolation_level=None, timeout=30
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._all_lock:
                # a server's short-lived threads would each leave a connection (two file
                # descriptors) behind: close those of threads that have ended
                for thread, old in self._all:
                    if not thread.is_alive():
                        old.close()
                self._all = [(t, c) for t, c in self._all if t.is_alive()]
                self._all.append((threading.current_thread(), db))
        return db

    def close(self) -> None:
        with self._all_lock:
            self._closed = True
            for _, db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.conn().execute(sql, args).fetchall()

    def generation(self) -> int:
        return int(self.rows("SELECT value FROM meta WHERE key = 'generation'")[0][0])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction on this thread's connection, under the in-process read lock."""
        with self.lock.shared() as outermost:
            if not outermost:
                yield
                return
            db = self.conn()
            db.execute("BEGIN")
            try:
                yield
            finally:
                db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT raising the generation; any exception rolls it all back.

        The caller holds `lock.exclusive()` across this and the index update that follows it.
        Running out of disk space raises `DiskFull` naming the file."""
        db = self.conn()
        with disk_full_raised(self.path):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )
                db.execute("COMMIT")
            except BaseException:
                rollback(db)  # SQLite may already have rolled back (it does on SQLITE_FULL)
                raise


def filter_sql(flt: SearchFilter | None, doc: str = "d") -> tuple[str, list[Any]]:
    """The filter as a SQL condition on the documents table aliased `doc` (pushed down)."""
    if flt is None or flt.empty:
        return "1", []
    conds: list[str] = []
    args: list[Any] = []
    if flt.doc_ids:
        conds.append(f"{doc}.id IN (SELECT value FROM json_each(?))")
        args.append(json.dumps(list(flt.doc_ids)))
    if flt.path_glob:
        conds.append(f"({doc}.source GLOB ? OR {doc}.name GLOB ?)")
        args += [flt.path_glob, flt.path_glob]
    for key, values in flt.metadata_alternatives().items():
        # json_extract would read "a.b" as a path: look the key up as one literal member
        conds.append(
            f"(SELECT value FROM json_each({doc}.metadata) WHERE key = ?) "
            "IN (SELECT value FROM json_each(?))"
        )
        args += [key, json.dumps(values)]
    return " AND ".join(conds), args
