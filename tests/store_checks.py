"""What the fault tests check in a store directory after a kill, a full disk or a re-run.

`problems` is the consistency check: every way the store's parts could disagree, as one line
each (an empty list is a healthy store). `fingerprint` is what a document *is* in a store —
its chunks, their vectors and keyword rows — so a document that survived a kill can be
compared with the same document in a store that was never interrupted. `graph_print` does the
same for the resolved knowledge graph.

These read the files with plain SQL rather than through the store's own classes, so a bug in
the store cannot hide itself from the check; `answers` then opens the store the way the product
does and asks it something.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

STORE_DB, GRAPH_DB = "store.sqlite", "graph.sqlite"

DocPrint = tuple[str, int, tuple[tuple[int, str, str, str, str], ...]]


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        yield db


def _scalar(db: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> Any:
    return db.execute(sql, args).fetchone()[0]


def _ids(db: sqlite3.Connection, sql: str) -> set[Any]:
    return {r[0] for r in db.execute(sql)}


def generation(store_dir: Path) -> int:
    with _connect(store_dir / STORE_DB) as db:
        return int(_scalar(db, "SELECT value FROM meta WHERE key = 'generation'"))


def problems(store_dir: Path, dim: int) -> list[str]:
    """Everything wrong with the store at `store_dir`, one line each; [] when consistent."""
    found: list[str] = []
    if not (store_dir / "manifest.json").is_file():
        found.append("no manifest.json")
    if not (store_dir / STORE_DB).is_file():
        return [*found, f"no {STORE_DB}"]
    with _connect(store_dir / STORE_DB) as db:
        found += _store_problems(db, dim)
        rowids = _ids(db, "SELECT rowid FROM chunks")
        chunk_ids = _ids(db, "SELECT id FROM chunks")
        doc_ids = _ids(db, "SELECT id FROM documents")
        gen = int(_scalar(db, "SELECT value FROM meta WHERE key = 'generation'"))
    found += _faiss_problems(store_dir / f"vectors-{gen}.faiss", rowids, dim)
    if (store_dir / GRAPH_DB).is_file():
        with _connect(store_dir / GRAPH_DB) as g:
            found += _graph_problems(g, doc_ids, chunk_ids)
    return found


def _store_problems(db: sqlite3.Connection, dim: int) -> list[str]:
    found = []
    if (ok := _scalar(db, "PRAGMA integrity_check")) != "ok":
        found.append(f"store.sqlite integrity_check: {ok}")
    try:
        db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    except sqlite3.DatabaseError as e:
        found.append(f"FTS5 integrity-check: {e}")
    checks = {
        "documents whose chunk count is not n_chunks": (
            "SELECT COUNT(*) FROM (SELECT d.id FROM documents d LEFT JOIN chunks c "
            "ON c.doc_id = d.id GROUP BY d.id HAVING COUNT(c.rowid) != d.n_chunks)"
        ),
        "documents whose chunk ordinals are not 0..n-1": (
            "SELECT COUNT(*) FROM (SELECT doc_id FROM chunks GROUP BY doc_id "
            "HAVING MIN(ordinal) != 0 OR MAX(ordinal) != COUNT(*) - 1 "
            "OR COUNT(DISTINCT ordinal) != COUNT(*))"
        ),
        "chunks of no document": (
            "SELECT COUNT(*) FROM chunks c LEFT JOIN documents d ON d.id = c.doc_id "
            "WHERE d.id IS NULL"
        ),
        "chunks without a keyword row": (
            "SELECT COUNT(*) FROM chunks WHERE rowid NOT IN (SELECT rowid FROM chunks_fts)"
        ),
        "keyword rows without a chunk": (
            "SELECT COUNT(*) FROM chunks_fts WHERE rowid NOT IN (SELECT rowid FROM chunks)"
        ),
        "chunks without a vector": (
            "SELECT COUNT(*) FROM chunks c LEFT JOIN embeddings e ON e.text_hash = c.text_hash "
            "WHERE e.text_hash IS NULL"
        ),
        "vectors no chunk uses": (
            "SELECT COUNT(*) FROM embeddings WHERE text_hash NOT IN (SELECT text_hash FROM chunks)"
        ),
        f"vectors not of {dim} float32s": (
            f"SELECT COUNT(*) FROM embeddings WHERE length(vector) != {4 * dim}"
        ),
    }
    for what, sql in checks.items():
        if n := _scalar(db, sql):
            found.append(f"{n} {what}")
    return found


def _faiss_problems(path: Path, rowids: set[int], dim: int) -> list[str]:
    """The cache file of the current generation, if there is one, must hold exactly its
    chunks: the next reader would trust it. (No file is fine: a reader rebuilds it.)"""
    if not path.exists():
        return []
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        return [f"{path.name} unreadable: {e}"]
    ids = set(faiss.vector_to_array(index.id_map).tolist())
    found = []
    if index.d != dim:
        found.append(f"{path.name} has dimension {index.d}, not {dim}")
    if ids != rowids:
        found.append(
            f"{path.name} holds {len(ids - rowids)} vectors of no chunk and lacks "
            f"{len(rowids - ids)} chunks"
        )
    return found


def _graph_problems(g: sqlite3.Connection, doc_ids: set[str], chunk_ids: set[str]) -> list[str]:
    found = []
    if (ok := _scalar(g, "PRAGMA integrity_check")) != "ok":
        found.append(f"graph.sqlite integrity_check: {ok}")
    # the trials never delete, so the graph may lag the store but never hold more than it
    pairs = {
        "graph documents not in the store": (_ids(g, "SELECT doc_id FROM graph_docs"), doc_ids),
        "extractions of chunks not in the store": (
            _ids(g, "SELECT chunk_id FROM extractions"), chunk_ids),
        "mentions of chunks not in the store": (_ids(g, "SELECT chunk_id FROM mentions"), chunk_ids),
        "relations citing chunks not in the store": (
            _ids(g, "SELECT chunk_id FROM relation_chunks"), chunk_ids),
    }  # fmt: skip
    for what, (have, allowed) in pairs.items():
        if n := len(have - allowed):
            found.append(f"{n} {what}")
    orphans = {
        "entities without a source chunk": (
            "SELECT COUNT(*) FROM entities WHERE id NOT IN (SELECT entity_id FROM mentions)"
        ),
        "relations with an end that is no entity": (
            "SELECT COUNT(*) FROM relations WHERE source NOT IN (SELECT id FROM entities) "
            "OR target NOT IN (SELECT id FROM entities)"
        ),
    }
    for what, sql in orphans.items():
        if n := _scalar(g, sql):
            found.append(f"{n} {what}")
    return found


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:16]


def fingerprint(store_dir: Path) -> dict[str, DocPrint]:
    """Each document by id: (source, n_chunks, per chunk by ordinal (ordinal, chunk id,
    text hash, digest of its keyword row, digest of its vector))."""
    with _connect(store_dir / STORE_DB) as db:
        rows = db.execute(
            "SELECT d.id, d.source, d.n_chunks, c.ordinal, c.id, c.text_hash, f.tokens, e.vector "
            "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id "
            "LEFT JOIN chunks_fts f ON f.rowid = c.rowid "
            "LEFT JOIN embeddings e ON e.text_hash = c.text_hash ORDER BY d.id, c.ordinal"
        ).fetchall()
    docs: dict[str, tuple[str, int, list[tuple[int, str, str, str, str]]]] = {}
    for did, source, n, ordinal, cid, th, tokens, vector in rows:
        _, _, chunks = docs.setdefault(did, (source, n, []))
        if cid is not None:
            tok = _digest(tokens) if tokens is not None else "-"
            vec = _digest(vector) if vector is not None else "-"
            chunks.append((ordinal, cid, th, tok, vec))
    return {d: (s, n, tuple(c)) for d, (s, n, c) in docs.items()}


def graph_print(store_dir: Path) -> dict[str, Any]:
    """The resolved graph and the graph's bookkeeping, comparable between two stores."""
    with _connect(store_dir / GRAPH_DB) as g:
        return {
            "docs": _ids(g, "SELECT doc_id FROM graph_docs"),
            "entities": set(g.execute("SELECT id, name, type FROM entities").fetchall()),
            "mentions": set(g.execute("SELECT entity_id, chunk_id FROM mentions").fetchall()),
            "relations": set(g.execute("SELECT id, source, target FROM relations").fetchall()),
            "communities": _scalar(g, "SELECT COUNT(*) FROM communities"),
            "stale": _scalar(g, "SELECT value FROM meta WHERE key = 'stale'"),
            "pending": _scalar(g, "SELECT COUNT(*) FROM llm_pending"),
            "unfinished": _scalar(
                g,
                "SELECT COUNT(*) FROM extractions WHERE doc_id NOT IN "
                "(SELECT doc_id FROM graph_docs)",
            ),
        }


def leftovers(store_dir: Path) -> list[str]:
    """Files a finished write should not leave: temp files, caches of older generations."""
    current = f"vectors-{generation(store_dir)}.faiss"
    return sorted(
        p.name
        for p in store_dir.iterdir()
        if p.name.endswith(".tmp") or (p.name.endswith(".faiss") and p.name != current)
    )


def answers(store_dir: Path, dim: int) -> list[str]:
    """Open the store as the product does and search it both ways; problems, one line each."""
    from ingest.embedding import HashingEmbedder
    from ingest.store import EmbeddedStore

    emb = HashingEmbedder(dim)
    store = EmbeddedStore(store_dir, embedder_name=emb.name, dim=dim, create=False)
    try:
        n_chunks = store.chunks.counts().chunks
        found = []
        if (n := len(store.dense)) != n_chunks:
            found.append(f"the vector index has {n} vectors for {n_chunks} chunks")
        if n_chunks:
            with _connect(store_dir / STORE_DB) as db:
                cid, text = db.execute("SELECT id, text FROM chunks ORDER BY rowid DESC").fetchone()
            dense = [c for c, _ in store.dense.search(emb.embed_query(text), 5)]
            if cid not in dense:
                found.append("a chunk's own text does not find it by vector")
            if not store.keywords.search(text[:200], 5):
                found.append("a chunk's own text finds nothing by keyword")
        return found
    finally:
        store.close()
