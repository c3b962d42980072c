"""Persistence of the graph in PostgreSQL: the cluster backend's `graph.ports.GraphStore`.

The same two layers and the same semantics as `graph/store.py` (read its docstring): per-chunk
extractions with the done documents, the `llm_pending` plan and the `stale` flag; the resolved
graph replaced whole in one transaction that raises the generation; caches keyed by content.

Every table lives in the schema of the knowledge base, which a chunk store shares with its own
`meta`/`documents`/`chunks` tables, hence the `graph_` prefix on all of them. Each thread has
its own autocommit connection, so a statement outside a transaction commits on its own, and
`reading()` is a REPEATABLE READ READ ONLY transaction: one snapshot for several reads while
another process replaces the graph. The replace deletes rows rather than TRUNCATE, which is not
MVCC-safe: a reader's snapshot taken before it would see the tables empty.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from graph import store as sqlite_store  # the payload codec and page sizes, defined once
from graph.types import Community, Entity, Extraction, Relation, RelationTable
from ingest.atomic import disk_full

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

# {s} is the schema. Arrays are native text[]; an extraction's payload stays the JSON text the
# SQLite store writes (read back whole, never queried), so both stores share one codec.
_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.graph_meta(key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO {s}.graph_meta VALUES ('generation', 0), ('stale', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {s}.graph_docs(doc_id text PRIMARY KEY, extractor text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.graph_extractions(
  chunk_id text PRIMARY KEY, doc_id text NOT NULL, extractor text NOT NULL, payload text NOT NULL);
CREATE INDEX IF NOT EXISTS graph_extractions_doc ON {s}.graph_extractions(doc_id);
CREATE TABLE IF NOT EXISTS {s}.graph_llm_pending(chunk_id text PRIMARY KEY, doc_id text NOT NULL);
CREATE INDEX IF NOT EXISTS graph_llm_pending_doc ON {s}.graph_llm_pending(doc_id);
CREATE TABLE IF NOT EXISTS {s}.graph_entities(
  id text PRIMARY KEY, name text NOT NULL, type text NOT NULL, description text NOT NULL,
  aliases text[] NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.graph_mentions(entity_id text NOT NULL, chunk_id text NOT NULL,
  PRIMARY KEY (entity_id, chunk_id));
CREATE INDEX IF NOT EXISTS graph_mentions_chunk ON {s}.graph_mentions(chunk_id);
CREATE TABLE IF NOT EXISTS {s}.graph_relations(
  id text PRIMARY KEY, source text NOT NULL, target text NOT NULL, description text NOT NULL,
  keywords text[] NOT NULL, weight double precision NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.graph_relation_chunks(relation_id text NOT NULL,
  chunk_id text NOT NULL, PRIMARY KEY (relation_id, chunk_id));
CREATE TABLE IF NOT EXISTS {s}.graph_communities(
  id text PRIMARY KEY, level integer NOT NULL, entity_ids text[] NOT NULL, title text NOT NULL,
  summary text NOT NULL, parent text);
CREATE TABLE IF NOT EXISTS {s}.graph_community_reports(
  id text PRIMARY KEY, summary text NOT NULL, method text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.graph_text_vectors(text_hash text PRIMARY KEY, vector bytea NOT NULL);
"""

_RESOLVED = ("graph_entities", "graph_mentions", "graph_relations", "graph_relation_chunks",
             "graph_communities")  # fmt: skip

_DONE_EXTRACTIONS = (
    "SELECT e.chunk_id, e.extractor, e.payload FROM {s}.graph_extractions e "
    "JOIN {s}.graph_docs g ON g.doc_id = e.doc_id"
)


def schema_lock_key(name: str) -> str:
    """The advisory lock held while creating the tables of schema `name`: two processes (or a
    chunk store and this one) opening a new knowledge base at once would otherwise race on
    `CREATE ... IF NOT EXISTS`, which is not safe against a concurrent creation."""
    return f"rag schema {name}"


class PostgresGraphStore:
    """The graph's tables in PostgreSQL schema `name` of the database at `url`."""

    def __init__(self, url: str, name: str) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a knowledge-base name for PostgreSQL: {name!r}")
        self._url = url
        self._name = name
        self._schema = sql.Identifier(name)
        self._local = threading.local()
        self._conns: list[psycopg.Connection[Any]] = []  # every thread's, closed by close()
        self._conns_lock = threading.Lock()
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        (schema_lock_key(name),))  # fmt: skip
            cur.execute(self._q(_SCHEMA))

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._schema)

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = psycopg.connect(self._url, autocommit=True)
            with self._conns_lock:
                self._conns.append(conn)
            self._local.conn = conn
            self._local.reading = 0
        return conn

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A REPEATABLE READ READ ONLY transaction on this thread's connection: every read
        inside sees one committed graph. Re-entrant: an inner one joins the outer."""
        conn = self._conn()
        outermost = self._local.reading == 0
        if outermost:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._local.reading += 1
        try:
            yield
        except BaseException:
            if outermost:
                conn.execute("ROLLBACK")
            raise
        else:
            if outermost:
                conn.execute("COMMIT")
        finally:
            self._local.reading -= 1

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        """One write transaction; PostgreSQL running out of disk raises `DiskFull`, and the
        transaction rolls back, keeping what was committed before."""
        try:
            conn = self._conn()
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.errors.DiskFull as e:
            raise disk_full(None, e, f"no space left on PostgreSQL for {self._name}") from e

    def _rows(self, text: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._conn().execute(self._q(text), args).fetchall()

    def _copy(self, cur: psycopg.Cursor[Any], table: str, rows: Iterable[Sequence[Any]]) -> None:
        with cur.copy(self._q(f"COPY {{s}}.{table} FROM STDIN")) as copy:
            for row in rows:
                copy.write_row(row)

    # --- extraction layer ------------------------------------------------------------------

    def doc_ids(self) -> set[str]:
        """The documents that are done: all their chunks hold their final extraction."""
        return {r[0] for r in self._rows("SELECT doc_id FROM {s}.graph_docs")}

    def unfinished_doc_ids(self) -> set[str]:
        """Documents with stored extractions or planned LLM work that are not done."""
        rows = self._rows(
            "SELECT doc_id FROM {s}.graph_extractions UNION SELECT doc_id FROM {s}.graph_llm_pending "
            "EXCEPT SELECT doc_id FROM {s}.graph_docs"
        )
        return {r[0] for r in rows}

    def put_extractions(
        self, doc_id: str, extractions: Sequence[Extraction], *, done_by: str | None = None
    ) -> None:
        """Store these chunks' extractions (settling their `llm_pending` rows) in one
        transaction; with `done_by`, the document is done in the same one (see
        `SqliteGraphStore.put_extractions` for why no other row of it is deleted)."""
        with self._tx() as cur:
            cur.executemany(
                self._q(
                    "INSERT INTO {s}.graph_extractions VALUES (%s, %s, %s, %s) ON CONFLICT "
                    "(chunk_id) DO UPDATE SET doc_id = EXCLUDED.doc_id, "
                    "extractor = EXCLUDED.extractor, payload = EXCLUDED.payload"
                ),
                [(e.chunk_id, doc_id, e.extractor, sqlite_store._payload(e)) for e in extractions],
            )
            cur.execute(
                self._q("DELETE FROM {s}.graph_llm_pending WHERE chunk_id = ANY(%s::text[])"),
                ([e.chunk_id for e in extractions],),
            )
            if done_by is not None:
                cur.execute(self._q("DELETE FROM {s}.graph_llm_pending WHERE doc_id = %s"),
                            (doc_id,))  # fmt: skip
                cur.execute(
                    self._q(
                        "INSERT INTO {s}.graph_docs VALUES (%s, %s) "
                        "ON CONFLICT (doc_id) DO UPDATE SET extractor = EXCLUDED.extractor"
                    ),
                    (doc_id, done_by),
                )
                cur.execute(self._q("UPDATE {s}.graph_meta SET value = 1 WHERE key = 'stale'"))

    def plan_refinement(self, chosen: Mapping[str, Iterable[str]]) -> None:
        """Record, for each document, the chunks still to send to the LLM (one transaction)."""
        with self._tx() as cur:
            cur.executemany(
                self._q(
                    "INSERT INTO {s}.graph_llm_pending VALUES (%s, %s) "
                    "ON CONFLICT (chunk_id) DO UPDATE SET doc_id = EXCLUDED.doc_id"
                ),
                [(c, doc_id) for doc_id, chunk_ids in chosen.items() for c in chunk_ids],
            )

    def pending_refinement(self, doc_id: str) -> set[str]:
        """The chunks of `doc_id` an interrupted LLM run planned and has not yet refined."""
        rows = self._rows("SELECT chunk_id FROM {s}.graph_llm_pending WHERE doc_id = %s", (doc_id,))
        return {r[0] for r in rows}

    def remove_doc(self, doc_id: str) -> None:
        with self._tx() as cur:
            for table in ("graph_extractions", "graph_llm_pending", "graph_docs"):
                cur.execute(self._q(f"DELETE FROM {{s}}.{table} WHERE doc_id = %s"), (doc_id,))
            cur.execute(self._q("UPDATE {s}.graph_meta SET value = 1 WHERE key = 'stale'"))

    def extractions(self) -> list[Extraction]:
        """The extractions of the documents that are done, by chunk id."""
        rows = self._rows(_DONE_EXTRACTIONS + " ORDER BY e.chunk_id")
        return [sqlite_store._extraction(*r) for r in rows]

    def iter_extractions(self) -> Iterator[Extraction]:
        """The same rows, `graph.store.EXTRACTION_PAGE` at a time by chunk id: nothing is held
        between pages, neither rows nor a transaction (the caller's write lock keeps them)."""
        after = ""
        while True:
            page = sqlite_store.EXTRACTION_PAGE
            rows = self._rows(
                _DONE_EXTRACTIONS + " WHERE e.chunk_id > %s ORDER BY e.chunk_id LIMIT %s",
                (after, page),
            )
            for r in rows:
                yield sqlite_store._extraction(*r)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def extractions_of(self, doc_id: str) -> list[Extraction]:
        """Every stored extraction of one document, done or not (what a resumed sync has)."""
        rows = self._rows(
            "SELECT chunk_id, extractor, payload FROM {s}.graph_extractions WHERE doc_id = %s "
            "ORDER BY chunk_id",
            (doc_id,),
        )
        return [sqlite_store._extraction(*r) for r in rows]

    def needs_rebuild(self) -> bool:
        """True when documents were finished or removed since the resolved graph was built."""
        return bool(self._rows("SELECT value FROM {s}.graph_meta WHERE key = 'stale'")[0][0])

    # --- resolved layer --------------------------------------------------------------------

    def replace_graph(
        self,
        entities: Sequence[Entity],
        relations: RelationTable,
        communities: Sequence[Community],
    ) -> None:
        """Delete the resolved graph and COPY the new one in, in one transaction; `relations`
        is walked once, `graph.store._WRITE_BATCH` relations (and their chunk links) a COPY."""
        with self._tx() as cur:
            for table in _RESOLVED:
                cur.execute(self._q(f"DELETE FROM {{s}}.{table}"))
            self._copy(cur, "graph_entities",
                       ((e.id, e.name, e.type, e.description, list(e.aliases)) for e in entities))  # fmt: skip
            self._copy(cur, "graph_mentions", ((e.id, c) for e in entities for c in e.chunk_ids))
            rows: list[tuple[str, str, str, str, list[str], float]] = []
            links: list[tuple[str, str]] = []
            for r in relations:  # one walk: the relations may be read from disk
                rows.append((r.id, r.source, r.target, r.description, list(r.keywords), r.weight))
                links.extend((r.id, c) for c in r.chunk_ids)
                if len(rows) >= sqlite_store._WRITE_BATCH:
                    self._copy_relations(cur, rows, links)
            self._copy_relations(cur, rows, links)
            self._copy(cur, "graph_communities", (
                (c.id, c.level, list(c.entity_ids), c.title, c.summary, c.parent)
                for c in communities))  # fmt: skip
            cur.execute(self._q(
                "UPDATE {s}.graph_meta SET value = value + 1 WHERE key = 'generation'"))  # fmt: skip
            cur.execute(self._q("UPDATE {s}.graph_meta SET value = 0 WHERE key = 'stale'"))

    def _copy_relations(
        self,
        cur: psycopg.Cursor[Any],
        rows: list[tuple[str, str, str, str, list[str], float]],
        links: list[tuple[str, str]],
    ) -> None:
        """COPY and clear a batch of relation rows and their chunk links."""
        self._copy(cur, "graph_relations", rows)
        self._copy(cur, "graph_relation_chunks", links)
        rows.clear()
        links.clear()

    def scratch_dir(self) -> Path | None:
        return None  # no folder of ours on this machine: the system's temp folder

    def generation(self) -> int:
        return int(self._rows("SELECT value FROM {s}.graph_meta WHERE key = 'generation'")[0][0])

    def entities(self) -> list[Entity]:
        with self.reading():  # the mentions and the entities of one generation
            chunks: dict[str, list[str]] = {}
            for eid, cid in self._rows(
                "SELECT entity_id, chunk_id FROM {s}.graph_mentions ORDER BY chunk_id"
            ):
                chunks.setdefault(eid, []).append(cid)
            rows = self._rows(
                "SELECT id, name, type, description, aliases FROM {s}.graph_entities ORDER BY id"
            )
        return [Entity(i, n, t, d, tuple(a), tuple(chunks.get(i, ()))) for i, n, t, d, a in rows]

    def relations(self) -> list[Relation]:
        with self.reading():
            chunks: dict[str, list[str]] = {}
            for rid, cid in self._rows(
                "SELECT relation_id, chunk_id FROM {s}.graph_relation_chunks ORDER BY chunk_id"
            ):
                chunks.setdefault(rid, []).append(cid)
            rows = self._rows(
                "SELECT id, source, target, description, keywords, weight "
                "FROM {s}.graph_relations ORDER BY id"
            )
        return [Relation(i, s, t, d, tuple(k), w, tuple(chunks.get(i, ())))
                for i, s, t, d, k, w in rows]  # fmt: skip

    def communities(self) -> list[Community]:
        rows = self._rows(
            "SELECT id, level, entity_ids, title, summary, parent FROM {s}.graph_communities "
            "ORDER BY level, id"
        )
        return [Community(i, lv, tuple(e), t, s, p) for i, lv, e, t, s, p in rows]

    def entities_of_chunks(self, chunk_ids: Iterable[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        rows = self._rows(
            "SELECT chunk_id, entity_id FROM {s}.graph_mentions WHERE chunk_id = ANY(%s::text[]) "
            "ORDER BY chunk_id, entity_id",
            (list(chunk_ids),),
        )
        for cid, eid in rows:
            out.setdefault(cid, []).append(eid)
        return out

    # --- caches keyed by content: community reports, text vectors -------------------------

    def reports(self, ids: Iterable[str]) -> dict[str, str]:
        rows = self._rows(
            "SELECT id, summary FROM {s}.graph_community_reports WHERE id = ANY(%s::text[])",
            (list(ids),),
        )
        return dict(rows)

    def put_reports(self, reports: dict[str, tuple[str, str]]) -> None:
        with self._tx() as cur:
            cur.executemany(
                self._q(
                    "INSERT INTO {s}.graph_community_reports VALUES (%s, %s, %s) ON CONFLICT (id) "
                    "DO UPDATE SET summary = EXCLUDED.summary, method = EXCLUDED.method"
                ),
                [(k, s, m) for k, (s, m) in reports.items()],
            )

    def vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self._rows(
            "SELECT text_hash, vector FROM {s}.graph_text_vectors WHERE text_hash = ANY(%s::text[])",
            (list(hashes),),
        )
        return {h: np.frombuffer(v, dtype=np.float32) for h, v in rows}

    def put_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        with self._tx() as cur:
            cur.executemany(
                self._q(
                    "INSERT INTO {s}.graph_text_vectors VALUES (%s, %s) "
                    "ON CONFLICT (text_hash) DO UPDATE SET vector = EXCLUDED.vector"
                ),
                [(h, np.asarray(v, np.float32).tobytes()) for h, v in vectors.items()],
            )
