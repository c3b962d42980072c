"""Persistence of the graph: `graph.sqlite` beside the chunk store.

Two layers: per-chunk extractions (the expensive part, written once per document in one
transaction) and the resolved graph (entities, relations, mentions, communities) rebuilt
from them in one transaction whenever documents come or go. A crash between the two leaves
the old resolved graph, and the next sync redoes the rest: the graph tracks which documents
it has, and `rag` reconciles that set with the chunk store's.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from graph.types import Community, Entity, EntityMention, Extraction, Relation, RelationMention
from ingest.atomic import sqlite_transaction

DB_FILE = "graph.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
CREATE TABLE IF NOT EXISTS graph_docs(doc_id TEXT PRIMARY KEY, extractor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS extractions(
  chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, extractor TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS extractions_doc ON extractions(doc_id);
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


class GraphStore:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            root / DB_FILE, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()

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
        return {r[0] for r in self._rows("SELECT doc_id FROM graph_docs")}

    def put_doc(self, doc_id: str, extractor: str, extractions: Sequence[Extraction]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM extractions WHERE doc_id = ?", (doc_id,))
            db.executemany(
                "INSERT OR REPLACE INTO extractions VALUES (?, ?, ?, ?)",
                [(e.chunk_id, doc_id, e.extractor, _payload(e)) for e in extractions],
            )
            db.execute("INSERT OR REPLACE INTO graph_docs VALUES (?, ?)", (doc_id, extractor))

    def remove_doc(self, doc_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM extractions WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM graph_docs WHERE doc_id = ?", (doc_id,))

    def extractions(self) -> list[Extraction]:
        rows = self._rows("SELECT chunk_id, extractor, payload FROM extractions ORDER BY chunk_id")
        return [_extraction(*r) for r in rows]

    # --- resolved layer --------------------------------------------------------------------

    def replace_graph(
        self,
        entities: Sequence[Entity],
        relations: Sequence[Relation],
        communities: Sequence[Community],
    ) -> None:
        with self._tx() as db:
            for table in ("entities", "mentions", "relations", "relation_chunks", "communities"):
                db.execute(f"DELETE FROM {table}")
            db.executemany("INSERT INTO entities VALUES (?, ?, ?, ?, ?)", [
                (e.id, e.name, e.type, e.description, json.dumps(e.aliases, ensure_ascii=False))
                for e in entities])  # fmt: skip
            db.executemany("INSERT INTO mentions VALUES (?, ?)",
                           [(e.id, c) for e in entities for c in e.chunk_ids])  # fmt: skip
            db.executemany("INSERT INTO relations VALUES (?, ?, ?, ?, ?, ?)", [
                (r.id, r.source, r.target, r.description, json.dumps(r.keywords), r.weight)
                for r in relations])  # fmt: skip
            db.executemany("INSERT INTO relation_chunks VALUES (?, ?)",
                           [(r.id, c) for r in relations for c in r.chunk_ids])  # fmt: skip
            db.executemany("INSERT INTO communities VALUES (?, ?, ?, ?, ?, ?)", [
                (c.id, c.level, json.dumps(c.entity_ids), c.title, c.summary, c.parent)
                for c in communities])  # fmt: skip
            db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )

    def generation(self) -> int:
        return int(self._rows("SELECT value FROM meta WHERE key = 'generation'")[0][0])

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
            "SELECT chunk_id, entity_id FROM mentions WHERE chunk_id IN (SELECT value FROM json_each(?))",
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
