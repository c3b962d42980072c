"""The embedded `KeywordIndex`: SQLite FTS5 BM25 over jieba/word tokens (`ingest.keywords`).

The chunks' tokens are stored space-joined and FTS5's unicode61 tokenizer splits them again, so
Chinese is matched by jieba's words rather than by FTS5's own idea of a token.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ingest.atomic import rollback
from ingest.chunking import indexed_text
from ingest.keywords import KEYWORD_TOKENISER, keyword_tokens
from ingest.ports import Scored
from ingest.store.database import Database, filter_sql
from ingest.types import SearchFilter


def fts_query(tokens: Iterable[str]) -> str:
    """An FTS5 MATCH expression OR-ing the quoted tokens (quoting disables FTS syntax)."""
    unique = dict.fromkeys(t for t in tokens if t.strip())
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)


log = logging.getLogger(__name__)
TOKENISER_KEY = "keyword_tokeniser"
LEGACY_TOKENISER = "jieba-search/plain"  # a store that records none was tokenised by this one


class Fts5KeywordIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def ensure_current(self) -> None:
        """Re-tokenise a store whose keyword rows another tokeniser made (`KEYWORD_TOKENISER`).

        Questions are tokenised by today's code, so rows made by an older one would silently
        stop matching (a stemmed "quantiz" against a stored "quantization")."""
        if self._tokeniser() == KEYWORD_TOKENISER:
            return
        db = self._db.conn()
        try:
            with self._db.lock.exclusive():
                # no generation is counted: the chunks and vectors stay what they were
                db.execute("BEGIN IMMEDIATE")
                try:
                    n = 0
                    if self._tokeniser() != KEYWORD_TOKENISER:  # another process did it first
                        n = rebuild(db)  # of an empty store: an empty table
                        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                   (TOKENISER_KEY, KEYWORD_TOKENISER))  # fmt: skip
                    db.execute("COMMIT")
                except BaseException:
                    rollback(db)
                    raise
        except sqlite3.OperationalError as e:  # read-only, or a writer held it for 30 s
            log.warning("cannot re-tokenise the keyword index (%s); keyword search may miss", e)
            return
        if n:
            log.info("re-tokenised the keyword index (%d chunks) for %s", n, KEYWORD_TOKENISER)

    def _tokeniser(self) -> str:
        rows = self._db.rows("SELECT value FROM meta WHERE key = ?", [TOKENISER_KEY])
        return str(rows[0][0]) if rows else LEGACY_TOKENISER

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


def rebuild(db: sqlite3.Connection) -> int:
    """Drop and recreate the FTS5 table from the chunks (dropping also clears a corrupt one)."""
    db.execute("DROP TABLE IF EXISTS chunks_fts")
    db.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(tokens, tokenize='unicode61')")
    rows = db.execute(
        "SELECT c.rowid, d.title, c.heading_path, c.text FROM chunks c "
        "JOIN documents d ON d.id = c.doc_id ORDER BY c.rowid"
    ).fetchall()
    texts = [indexed_text(t, tuple(json.loads(p)), x) for _, t, p, x in rows]
    Fts5KeywordIndex.add(db, [r[0] for r in rows], texts)
    return len(rows)
