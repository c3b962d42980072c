"""The embedded `KeywordIndex`: SQLite FTS5 BM25 over jieba/word tokens (`ingest.keywords`).

The chunks' tokens are stored space-joined and FTS5's unicode61 tokenizer splits them again, so
Chinese is matched by jieba's words rather than by FTS5's own idea of a token.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ingest.keywords import keyword_tokens
from ingest.ports import Scored
from ingest.store.database import Database, filter_sql
from ingest.types import SearchFilter


def fts_query(tokens: Iterable[str]) -> str:
    """An FTS5 MATCH expression OR-ing the quoted tokens (quoting disables FTS syntax)."""
    unique = dict.fromkeys(t for t in tokens if t.strip())
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)


class Fts5KeywordIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def search(self, query: str, k: int, flt: SearchFilter | None = None) -> list[Scored]:
        """BM25 scores, positive, higher is better; the filter is a join in the same query."""
        expr = fts_query(keyword_tokens(query))
        if not expr or k <= 0:
            return []
        sql = "SELECT c.id, -bm25(chunks_fts) FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid"
        args: list[Any] = [expr]
        where = "chunks_fts MATCH ?"
        if flt is not None and not flt.empty:
            cond, extra = filter_sql(flt)
            sql += " JOIN documents d ON d.id = c.doc_id"
            where += f" AND {cond}"
            args += extra
        sql += f" WHERE {where} ORDER BY bm25(chunks_fts) LIMIT ?"
        args.append(k)
        return [(str(cid), float(s)) for cid, s in self._db.rows(sql, args)]

    # --- inside the store's write transaction ----------------------------------------------

    @staticmethod
    def add(db: sqlite3.Connection, rowids: Sequence[int], texts: Sequence[str]) -> None:
        db.executemany(
            "INSERT INTO chunks_fts(rowid, tokens) VALUES (?, ?)",
            [(r, " ".join(keyword_tokens(t))) for r, t in zip(rowids, texts, strict=True)],
        )

    @staticmethod
    def remove(db: sqlite3.Connection, rowids: Sequence[int]) -> None:
        db.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(list(rowids)),),
        )
