"""Persistence of the graph: `graph.sqlite` beside the chunk store.

Two layers: per-chunk extractions (the expensive part, committed a batch of chunks at a time
so a killed ingest resumes where it stopped) and the resolved graph (entities, relations,
mentions, communities) rebuilt from them in one transaction whenever documents come or go.

A document is in `graph_docs` ("done") only once every chunk of it holds its final
extraction; until then its rows are partial and `extractions()` — what the resolved graph is
built from — leaves them out. `llm_pending` is the plan of an LLM run: the chunks still to
send to the LLM, written once the fast pass is stored, each row settled in the transaction
that stores that chunk's result. `meta.stale` says the resolved graph lags the done
documents (set when one is finished or removed, cleared by `replace_graph`), so a crash
between extraction and resolution is repaired by the next sync.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from graph.types import (
    Community,
    Entity,
    EntityMention,
    Extraction,
    Relation,
    RelationMention,
    RelationTable,
)
from ingest.atomic import disk_full_raised, sqlite_transaction

DB_FILE = "graph.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
INSERT OR IGNORE INTO meta VALUES ('stale', '0');
CREATE TABLE IF NOT EXISTS graph_docs(doc_id TEXT PRIMARY KEY, extractor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS extractions(
  chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, extractor TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS extractions_doc ON extractions(doc_id);
CREATE TABLE IF NOT EXISTS llm_pending(chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS llm_pending_doc ON llm_pending(doc_id);
CREATE TABLE IF NOT EXISTS entities(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, description TEXT NOT NULL,
  aliases TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mentions(entity_id TEXT NOT NULL, chunk_id TEXT NOT NULL,
  PRIMARY KEY (entity_id, chunk_id));
CREATE INDEX IF NOT EXISTS mentions_chunk ON mentions(chunk_id);
CREATE TABLE IF NOT EXISTS relations(
  id TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL, description TEXT NOT NULL,
  keywords TEXT NOT NULL, weight REAL NOT NULL);
CREATE TABLE IF NOT EXISTS relation_chunks(relation_id TEXT NOT NULL, chunk_id TEXT NOT NULL,
  PRIMARY KEY (relation_id, chunk_id));
CREATE TABLE IF NOT EXISTS communities(
  id TEXT PRIMARY KEY, level INTEGER NOT NULL, entity_ids TEXT NOT NULL, title TEXT NOT NULL,
  summary TEXT NOT NULL, parent TEXT);
CREATE TABLE IF NOT EXISTS community_reports(id TEXT PRIMARY KEY, summary TEXT NOT NULL, method TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS text_vectors(text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
"""


# Rows a page of `iter_extractions`: a fast extraction's payload is about 12 KB (each mention
# and relation carries its sentence), so a page is a few MB of JSON.
EXTRACTION_PAGE = 500
_WRITE_BATCH = 5_000  # relations per insert when the graph is replaced


def _insert_relations(
    db: sqlite3.Connection,
    rows: list[tuple[str, str, str, str, str, float]],
    links: list[tuple[str, str]],
) -> None:
    """Insert and clear a batch of relation rows and their chunk links."""
    db.executemany("INSERT INTO relations VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.executemany("INSERT INTO relation_chunks VALUES (?, ?)", links)
    rows.clear()
    links.clear()


def _payload(ex: Extraction) -> str:
    return json.dumps({
        "entities": [[m.name, m.type, m.description] for m in ex.entities],
        "relations": [[r.source, r.target, r.description, list(r.keywords), r.strength] for r in ex.relations],
    }, ensure_ascii=False)  # fmt: skip


def _extraction(chunk_id: str, extractor: str, payload: str) -> Extraction:
    p = json.loads(payload)
    return Extraction(
        chunk_id,
        [EntityMention(*m) for m in p["entities"]],
        [RelationMention(s, t, d, tuple(k), w) for s, t, d, k, w in p["relations"]],
        extractor,
    )


class SqliteGraphStore:
    """The `graph.ports.GraphStore` of the embedded store: `graph.sqlite` in its directory.

    One connection shared by the threads of a process under a re-entrant lock: graph writes
    are rare (after an ingest or delete) and reads mostly come from a cached `GraphIndex`.
    """

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        with disk_full_raised(root / DB_FILE):  # opening writes too: the schema, WAL's -shm
            self._db = sqlite3.connect(
                root / DB_FILE, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._root = root
        self._lock = threading.RLock()
        self._reading = 0  # depth of `reading()` on the connection (one transaction at a time)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read transaction: a snapshot of one committed graph while the lock is held."""
        with self._lock:
            outermost = self._reading == 0
            if outermost:
                self._db.execute("BEGIN")
            self._reading += 1
            try:
                yield
            finally:
                self._reading -= 1
                if outermost:
                    self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with sqlite_transaction(self._db, self._lock) as db:
            yield db

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- extraction layer ------------------------------------------------------------------

    def doc_ids(self) -> set[str]:
        """The documents that are done: all their chunks hold their final extraction."""
        return {r[0] for r in self._rows("SELECT doc_id FROM graph_docs")}

    def unfinished_doc_ids(self) -> set[str]:
        """Documents with stored extractions that are not done (an interrupted sync)."""
        rows = self._rows(
            "SELECT DISTINCT doc_id FROM extractions WHERE doc_id NOT IN (SELECT doc_id FROM graph_docs) "
            "UNION SELECT doc_id FROM llm_pending WHERE doc_id NOT IN (SELECT doc_id FROM graph_docs)"
        )
        return {r[0] for r in rows}

    def put_extractions(
        self, doc_id: str, extractions: Sequence[Extraction], *, done_by: str | None = None
    ) -> None:
        """Store these chunks' extractions (settling their `llm_pending` rows) in one
        transaction; with `done_by`, the document is done in the same one.

        Marking done never deletes other rows of the document: its chunk ids hash the
        document id, and a document's chunks are written once, so every stored row of
        `doc_id` is a chunk of it."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO extractions VALUES (?, ?, ?, ?)",
                [(e.chunk_id, doc_id, e.extractor, _payload(e)) for e in extractions],
            )
            db.executemany(
                "DELETE FROM llm_pending WHERE chunk_id = ?", [(e.chunk_id,) for e in extractions]
            )
            if done_by is not None:
                db.execute("DELETE FROM llm_pending WHERE doc_id = ?", (doc_id,))
                db.execute("INSERT OR REPLACE INTO graph_docs VALUES (?, ?)", (doc_id, done_by))
                db.execute("UPDATE meta SET value = '1' WHERE key = 'stale'")

    def plan_refinement(self, chosen: Mapping[str, Iterable[str]]) -> None:
        """Record, for each document, the chunks still to send to the LLM (one transaction)."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO llm_pending VALUES (?, ?)",
                [(c, doc_id) for doc_id, chunk_ids in chosen.items() for c in chunk_ids],
            )

    def pending_refinement(self, doc_id: str) -> set[str]:
        """The chunks of `doc_id` an interrupted LLM run planned and has not yet refined."""
        return {
            r[0] for r in self._rows("SELECT chunk_id FROM llm_pending WHERE doc_id = ?", (doc_id,))
        }

    def remove_doc(self, doc_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM extractions WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM llm_pending WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM graph_docs WHERE doc_id = ?", (doc_id,))
            db.execute("UPDATE meta SET value = '1' WHERE key = 'stale'")

    def extractions(self) -> list[Extraction]:
        """The extractions of the documents that are done — what the resolved graph is built
        from, so a half-extracted document never shows in it."""
        rows = self._rows(
            "SELECT e.chunk_id, e.extractor, e.payload FROM extractions e "
            "JOIN graph_docs g ON g.doc_id = e.doc_id ORDER BY e.chunk_id"
        )
        return [_extraction(*r) for r in rows]

    def iter_extractions(self) -> Iterator[Extraction]:
        """The same rows, EXTRACTION_PAGE at a time by chunk id: nothing is held between pages
        (neither the rows nor the lock), and the caller's write lock keeps them from moving."""
        after = ""
        while True:
            rows = self._rows(
                "SELECT e.chunk_id, e.extractor, e.payload FROM extractions e "
                "JOIN graph_docs g ON g.doc_id = e.doc_id WHERE e.chunk_id > ? "
                "ORDER BY e.chunk_id LIMIT ?",
                (after, EXTRACTION_PAGE),
            )
            for r in rows:
                yield _extraction(*r)
            if len(rows) < EXTRACTION_PAGE:
                return
            after = rows[-1][0]

    def extractions_of(self, doc_id: str) -> list[Extraction]:
        """Every stored extraction of one document, done or not (what a resumed sync has)."""
        rows = self._rows(
            "SELECT chunk_id, extractor, payload FROM extractions WHERE doc_id = ? ORDER BY chunk_id",
            (doc_id,),
        )
        return [_extraction(*r) for r in rows]

    # --- resolved layer --------------------------------------------------------------------

    def replace_graph(
        self,
        entities: Sequence[Entity],
        relations: RelationTable,
        communities: Sequence[Community],
    ) -> None:
        with self._tx() as db:
            for table in ("entities", "mentions", "relations", "relation_chunks", "communities"):
                db.execute(f"DELETE FROM {table}")
            db.executemany("INSERT INTO entities VALUES (?, ?, ?, ?, ?)", (
                (e.id, e.name, e.type, e.description, json.dumps(e.aliases, ensure_ascii=False))
                for e in entities))  # fmt: skip
            db.executemany("INSERT INTO mentions VALUES (?, ?)",
                           ((e.id, c) for e in entities for c in e.chunk_ids))  # fmt: skip
            rows: list[tuple[str, str, str, str, str, float]] = []
            links: list[tuple[str, str]] = []
            for r in relations:  # one walk: the relations may be read from disk
                rows.append((r.id, r.source, r.target, r.description, json.dumps(r.keywords),
                             r.weight))  # fmt: skip
                links.extend((r.id, c) for c in r.chunk_ids)
                if len(rows) >= _WRITE_BATCH:
                    _insert_relations(db, rows, links)
            _insert_relations(db, rows, links)
            db.executemany("INSERT INTO communities VALUES (?, ?, ?, ?, ?, ?)", [
                (c.id, c.level, json.dumps(c.entity_ids), c.title, c.summary, c.parent)
                for c in communities])  # fmt: skip
            db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )
            db.execute("UPDATE meta SET value = '0' WHERE key = 'stale'")

    def scratch_dir(self) -> Path | None:
        return self._root

    def generation(self) -> int:
        return int(self._rows("SELECT value FROM meta WHERE key = 'generation'")[0][0])

    def needs_rebuild(self) -> bool:
        """True when documents were finished or removed since the resolved graph was built."""
        return self._rows("SELECT value FROM meta WHERE key = 'stale'")[0][0] == "1"

    def entities(self) -> list[Entity]:
        chunks: dict[str, list[str]] = {}
        for eid, cid in self._rows("SELECT entity_id, chunk_id FROM mentions ORDER BY chunk_id"):
            chunks.setdefault(eid, []).append(cid)
        rows = self._rows("SELECT id, name, type, description, aliases FROM entities ORDER BY id")
        return [
            Entity(i, n, t, d, tuple(json.loads(a)), tuple(chunks.get(i, ())))
            for i, n, t, d, a in rows
        ]

    def relations(self) -> list[Relation]:
        chunks: dict[str, list[str]] = {}
        for rid, cid in self._rows(
            "SELECT relation_id, chunk_id FROM relation_chunks ORDER BY chunk_id"
        ):
            chunks.setdefault(rid, []).append(cid)
        rows = self._rows(
            "SELECT id, source, target, description, keywords, weight FROM relations ORDER BY id"
        )
        return [Relation(i, s, t, d, tuple(json.loads(k)), w, tuple(chunks.get(i, ())))
                for i, s, t, d, k, w in rows]  # fmt: skip

    def communities(self) -> list[Community]:
        rows = self._rows(
            "SELECT id, level, entity_ids, title, summary, parent FROM communities ORDER BY level, id"
        )
        return [Community(i, lv, tuple(json.loads(e)), t, s, p) for i, lv, e, t, s, p in rows]

    def entities_of_chunks(self, chunk_ids: Iterable[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        rows = self._rows(
            "SELECT chunk_id, entity_id FROM mentions WHERE chunk_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY chunk_id, entity_id",
            (json.dumps(list(chunk_ids)),),
        )
        for cid, eid in rows:
            out.setdefault(cid, []).append(eid)
        return out

    # --- caches keyed by content: community reports, text vectors -------------------------

    def reports(self, ids: Iterable[str]) -> dict[str, str]:
        rows = self._rows(
            "SELECT id, summary FROM community_reports WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return dict(rows)

    def put_reports(self, reports: dict[str, tuple[str, str]]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO community_reports VALUES (?, ?, ?)",
                           [(k, s, m) for k, (s, m) in reports.items()])  # fmt: skip

    def vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self._rows(
            "SELECT text_hash, vector FROM text_vectors WHERE text_hash IN (SELECT value FROM json_each(?))",
            (json.dumps(list(hashes)),),
        )
        return {h: np.frombuffer(v, dtype=np.float32) for h, v in rows}

    def put_vectors(self, vectors: dict[str, np.ndarray]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO text_vectors VALUES (?, ?)",
                           [(h, np.asarray(v, np.float32).tobytes()) for h, v in vectors.items()])  # fmt: skip
