"""Checking the knowledge graph (`graph.sqlite`) against the documents and chunks of its store.

The per-chunk extractions are the graph's record of a document; the resolved graph (entities,
mentions, relations, communities) is derived from the extractions of the documents that are
done, so a repair re-resolves it (`GraphBuilder.rebuild`). Everything here reads one snapshot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Set
from contextlib import closing
from pathlib import Path

from graph.store import DB_FILE
from ingest.health import Problem

RESOLVE = "resolves the graph again"
REBUILD = "builds the graph again from the documents (it is derived from them)"


def check_graph(
    root: Path, doc_ids: Set[str], chunk_ids: Set[str], *, maintained: bool
) -> list[Problem]:
    """Disagreements between the graph and the store's documents (`doc_ids`) and chunks.

    `maintained`: the settings keep a graph (graph mode is not "off"), so every document
    should be in it; otherwise a graph left from earlier is only checked for what it holds."""
    path = root / DB_FILE
    if not path.is_file():
        if maintained and doc_ids:
            return [Problem("graph_missing", len(doc_ids), "documents with no knowledge graph "
                            f"({DB_FILE} is absent)", "builds it")]  # fmt: skip
        return []
    try:
        with closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as db:
            quick = [r[0] for r in db.execute("PRAGMA quick_check")]
            if quick != ["ok"]:
                return [Problem("graph_corrupt", len(quick),
                                f"{DB_FILE} fails SQLite's check: {quick[0]}", REBUILD)]  # fmt: skip
            db.execute("BEGIN")
            try:
                return _check(db, doc_ids, chunk_ids, maintained)
            finally:
                db.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        return [Problem("graph_corrupt", 1, f"{DB_FILE} cannot be read: {e}", REBUILD)]


def _check(
    db: sqlite3.Connection, doc_ids: Set[str], chunk_ids: Set[str], maintained: bool
) -> list[Problem]:
    found: list[Problem] = []

    def add(code: str, n: int, message: str, repair: str = RESOLVE) -> None:
        if n:
            found.append(Problem(code, n, message, repair))

    def column(sql: str) -> set[str]:
        return {r[0] for r in db.execute(sql)}

    done = column("SELECT doc_id FROM graph_docs")
    held = (
        done | column("SELECT doc_id FROM extractions") | column("SELECT doc_id FROM llm_pending")
    )
    add("graph_orphan_docs", len(held - doc_ids),
        "documents in the graph that are no longer in the store", "removes them from the graph")  # fmt: skip
    if maintained:
        add("graph_missing_docs", len(doc_ids - done),
            "documents not (or not wholly) extracted into the graph", "extracts them")  # fmt: skip
    extracted = column("SELECT e.chunk_id FROM extractions e JOIN graph_docs g USING (doc_id)")
    add("extraction_orphans", len(extracted - chunk_ids),
        "extractions of chunks the store does not hold", "removes them from the graph")  # fmt: skip
    stale = db.execute("SELECT value FROM meta WHERE key = 'stale'").fetchone()[0] == "1"
    add("graph_stale", int(stale), "the resolved graph lags the extracted documents")
    mentioned = column("SELECT chunk_id FROM mentions")
    add("entity_orphan_chunks", len(mentioned - chunk_ids),
        "chunks that entities cite but the store does not hold")  # fmt: skip
    cited = column("SELECT chunk_id FROM relation_chunks")
    add("relation_orphan_chunks", len(cited - chunk_ids),
        "chunks that relations cite but the store does not hold")  # fmt: skip
    add("entity_without_source", int(db.execute(
        "SELECT COUNT(*) FROM entities WHERE id NOT IN (SELECT entity_id FROM mentions)"
    ).fetchone()[0]), "entities without a source chunk")  # fmt: skip
    add("relation_dangling", int(db.execute(
        "SELECT COUNT(*) FROM relations WHERE source NOT IN (SELECT id FROM entities) "
        "OR target NOT IN (SELECT id FROM entities)"
    ).fetchone()[0]), "relations whose entity is missing")  # fmt: skip
    members = db.execute(
        "SELECT COUNT(*) FROM communities c, json_each(c.entity_ids) m "
        "WHERE m.value NOT IN (SELECT id FROM entities)"
    ).fetchone()[0]
    add("community_dangling", int(members), "community members that are not entities")
    return found


def docs_to_redo(root: Path, doc_ids: Set[str], chunk_ids: Set[str]) -> set[str]:
    """The documents whose graph rows a repair removes: those the store no longer has, and
    those with extractions of chunks the store does not hold (extracted again if kept)."""
    path = root / DB_FILE
    if not path.is_file():
        return set()
    with closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as db:
        held = {r[0] for r in db.execute(
            "SELECT doc_id FROM graph_docs UNION SELECT doc_id FROM extractions "
            "UNION SELECT doc_id FROM llm_pending")}  # fmt: skip
        wrong = {d for d, c in db.execute("SELECT doc_id, chunk_id FROM extractions")
                 if c not in chunk_ids}  # fmt: skip
    return (held - set(doc_ids)) | wrong
