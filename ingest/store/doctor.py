"""Checking and repairing an embedded store: do SQLite, the keyword index and the FAISS file agree?

What is primary: the `documents`, `chunks` and `embeddings` rows of `store.sqlite`. What is
derived from them: the FTS5 keyword rows (tokens of each chunk's indexed text), the FAISS file
(`vectors-<generation>.faiss`, a cache of the vectors), and a chunk's vector (the embedder of the
text). A repair rebuilds only what is derived, so it never deletes a document; a primary row that
is wrong (a document missing some of its chunks) is reported with what to do, not "fixed".

The checks read one snapshot of the database; the caller holds the store's write lock so no
writer moves it on between the SQLite checks and the FAISS file they compare it with.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence, Set
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from ingest.atomic import disk_full, out_of_space
from ingest.chunking import indexed_text
from ingest.health import Problem
from ingest.store.database import DB_FILE
from ingest.store.fts5 import rebuild as rebuild_keywords
from ingest.vector_index import FaissIndex

SAMPLE = 500  # chunks whose keyword tokens and cached vectors are compared in full
_CACHE = re.compile(r"vectors-(\d+)\.faiss")

Embed = Callable[[list[str]], np.ndarray]


@contextmanager
def _connect(root: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(root / DB_FILE, isolation_level=None, timeout=30)) as db:
        yield db


def _count(db: sqlite3.Connection, sql: str, args: Sequence[object] = ()) -> int:
    return int(db.execute(sql, args).fetchone()[0])


def check_store(root: Path, dim: int) -> list[Problem]:
    """Every disagreement between the store's tables and its FAISS file, one Problem each."""
    try:
        with _connect(root) as db:
            quick = [r[0] for r in db.execute("PRAGMA quick_check")]
            if quick != ["ok"]:
                return [Problem("sqlite_corrupt", len(quick),
                                f"{DB_FILE} fails SQLite's check: {quick[0]}; restore a backup "
                                "(`rag restore`) or re-ingest into a new store")]  # fmt: skip
            db.execute("BEGIN")
            try:
                return _check_rows(db, dim) + _check_cache(db, root, dim)
            finally:
                db.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        if out_of_space(e, root / DB_FILE):  # SQLite could not make its side files: not damage
            raise disk_full(root / DB_FILE, e) from e
        return [Problem("sqlite_corrupt", 1, f"{DB_FILE} cannot be read: {e}; restore a backup "
                        "(`rag restore`) or re-ingest into a new store")]  # fmt: skip


def _check_rows(db: sqlite3.Connection, dim: int) -> list[Problem]:
    found: list[Problem] = []

    def add(code: str, n: int, message: str, repair: str = "") -> None:
        if n:
            found.append(Problem(code, n, message, repair))

    short = db.execute(
        "SELECT d.source FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id "
        "GROUP BY d.id HAVING COUNT(c.rowid) != d.n_chunks ORDER BY d.source"
    ).fetchall()
    add("document_chunks", len(short),
        f"documents whose chunks are not all there (first: {short[0][0] if short else ''}); "
        "ingest their files again", "")  # fmt: skip
    add("orphan_chunks", _count(db, "SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN "
                                    "(SELECT id FROM documents)"),
        "chunks that belong to no document", "removes them")  # fmt: skip
    add("missing_vectors", _count(db, "SELECT COUNT(*) FROM chunks c LEFT JOIN embeddings e "
                                      "ON e.text_hash = c.text_hash WHERE e.text_hash IS NULL"),
        "chunks without a vector", "embeds them again")  # fmt: skip
    add("bad_vectors", _count(db, "SELECT COUNT(*) FROM embeddings WHERE length(vector) != ?",
                              (dim * 4,)),
        f"vectors that are not {dim} floats (the manifest's embedder)", "embeds them again")  # fmt: skip
    add("unused_vectors", _count(db, "SELECT COUNT(*) FROM embeddings WHERE text_hash NOT IN "
                                     "(SELECT text_hash FROM chunks)"),
        "vectors no chunk uses", "removes them")  # fmt: skip
    add("missing_keywords", _count(db, "SELECT COUNT(*) FROM chunks WHERE rowid NOT IN "
                                       "(SELECT rowid FROM chunks_fts)"),
        "chunks without a keyword-index row", "rebuilds the keyword index")  # fmt: skip
    add("orphan_keywords", _count(db, "SELECT COUNT(*) FROM chunks_fts WHERE rowid NOT IN "
                                      "(SELECT rowid FROM chunks)"),
        "keyword-index rows of no chunk", "rebuilds the keyword index")  # fmt: skip
    try:
        db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as e:
        add("keyword_index_corrupt", 1, f"the FTS5 keyword index fails its own check: {e}",
            "rebuilds the keyword index")  # fmt: skip
    else:
        stale = _stale_keywords(db)
        add("stale_keywords", stale,
            f"sampled chunks (of up to {SAMPLE}) whose keyword row is not their text's tokens",
            "rebuilds the keyword index")  # fmt: skip
    return found


def _stale_keywords(db: sqlite3.Connection) -> int:
    """Of a sample of chunks, how many have keyword tokens other than their text's."""
    rows = db.execute(
        "SELECT d.title, c.heading_path, c.text, f.tokens FROM chunks c "
        "JOIN documents d ON d.id = c.doc_id JOIN chunks_fts f ON f.rowid = c.rowid "
        "ORDER BY random() LIMIT ?",
        (SAMPLE,),
    ).fetchall()
    return sum(_tokens(title, path, text) != tokens for title, path, text, tokens in rows)


def _tokens(title: str, heading_path: str, text: str) -> str:
    from ingest.keywords import keyword_tokens

    return " ".join(keyword_tokens(indexed_text(title, tuple(json.loads(heading_path)), text)))


def cache_files(root: Path) -> dict[int, Path]:
    """The FAISS cache files in the store directory, by the generation each was saved for."""
    out: dict[int, Path] = {}
    for p in root.glob("vectors-*.faiss"):
        if m := _CACHE.fullmatch(p.name):
            out[int(m.group(1))] = p
    return out


def _check_cache(db: sqlite3.Connection, root: Path, dim: int) -> list[Problem]:
    """The FAISS file of the current generation, if there is one, against the SQLite rows.

    A missing file is no problem (the next reader builds it); one of another generation is
    left by a save that was cut short, or by a store copied back without clearing its cache."""
    gen = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
    files = cache_files(root)
    found: list[Problem] = []
    older = [g for g in files if g < gen]
    newer = [g for g in files if g > gen]
    if older:
        found.append(Problem(
            "stale_vector_cache", len(older),
            f"vector cache files of generations before the store's {gen} (left by a save that "
            "was cut short; no reader loads them)", "removes them",
        ))  # fmt: skip
    if newer:  # a reader would load one once the store's generation reaches it: wrong vectors
        found.append(Problem(
            "future_vector_cache", len(newer),
            f"vector cache files of generations after the store's {gen} (the store was "
            "replaced by an older copy without its cache)", "removes them",
        ))  # fmt: skip
    if gen not in files:
        return found
    try:
        index = FaissIndex.load(files[gen])
    except (OSError, RuntimeError) as e:
        return [*found, Problem("vector_cache_corrupt", 1,
                                f"{files[gen].name} cannot be read: {e}", "rebuilds it")]  # fmt: skip
    if index.dim != dim:
        return [*found, Problem("vector_cache_dim", 1, f"{files[gen].name} holds vectors of "
                                f"{index.dim} floats, not {dim}", "rebuilds it")]  # fmt: skip
    cached = set(index.ids().tolist())
    rows = {r[0] for r in db.execute("SELECT rowid FROM chunks")}
    if n := len(rows - cached):
        found.append(Problem("vector_cache_missing", n,
                             f"chunks missing from {files[gen].name}", "rebuilds it"))  # fmt: skip
    if n := len(cached - rows):
        found.append(Problem("vector_cache_extra", n,
                             f"vectors in {files[gen].name} of no chunk", "rebuilds it"))  # fmt: skip
    sample = random.sample(sorted(rows & cached), min(SAMPLE, len(rows & cached)))
    if sample:
        stored = dict(db.execute(
            "SELECT c.rowid, e.vector FROM chunks c JOIN embeddings e ON e.text_hash = c.text_hash "
            "WHERE c.rowid IN (SELECT value FROM json_each(?)) AND length(e.vector) = ?",
            (json.dumps(sample), dim * 4)).fetchall())  # fmt: skip
        differ = sum(
            not np.allclose(index.vector(r), np.frombuffer(v, dtype=np.float32), atol=1e-6)
            for r, v in stored.items()
        )
        if differ:
            found.append(Problem("vector_cache_stale", differ,
                                 f"sampled vectors in {files[gen].name} unlike the stored ones",
                                 "rebuilds it"))  # fmt: skip
    return found


# --- repair ----------------------------------------------------------------------------------


def repair_store(root: Path, dim: int, embed: Callable[[], Embed], found: Set[str]) -> list[str]:
    """Rebuild what is derived from the primary rows; returns one line per thing done.

    `found` is the codes the check just reported (so the checks are not run twice).
    `embed` is called (and so the embedder loaded) only when some chunk needs a vector. The
    caller holds the store's write lock. Everything in SQLite changes in one transaction that
    raises the generation, so another process's cached index is rebuilt, not trusted."""
    done: list[str] = []
    with _connect(root) as db:
        need = db.execute(
            "SELECT DISTINCT c.text_hash, d.title, c.heading_path, c.text FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id LEFT JOIN embeddings e ON e.text_hash = c.text_hash "
            "WHERE e.text_hash IS NULL OR length(e.vector) != ?",
            (dim * 4,),
        ).fetchall()
        vectors: dict[str, bytes] = {}
        if need:
            texts = [indexed_text(t, tuple(json.loads(p)), x) for _, t, p, x in need]
            embedder = embed()
            for i in range(0, len(texts), 64):
                part = embedder(texts[i : i + 64])
                vectors.update(
                    (need[i + j][0], np.asarray(v, dtype=np.float32).tobytes())
                    for j, v in enumerate(part)
                )
        db.execute("BEGIN IMMEDIATE")
        try:
            n = db.execute("DELETE FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)")
            if n.rowcount:
                done.append(f"removed {n.rowcount} chunks that belonged to no document")
            if vectors:
                db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", vectors.items())
                done.append(f"embedded {len(vectors)} chunk texts again")
            n = db.execute(
                "DELETE FROM embeddings WHERE text_hash NOT IN (SELECT text_hash FROM chunks)"
            )
            if n.rowcount:
                done.append(f"removed {n.rowcount} vectors no chunk uses")
            keyword_codes = {"missing_keywords", "orphan_keywords", "keyword_index_corrupt",
                             "stale_keywords"}  # fmt: skip
            if found & keyword_codes or done:
                done.append(f"rebuilt the keyword index ({rebuild_keywords(db)} chunks)")
            db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    gen, n_vectors = rebuild_vector_cache(root, dim)
    done.append(f"rebuilt the vector cache ({n_vectors} vectors, generation {gen})")
    return done


def rebuild_vector_cache(root: Path, dim: int) -> tuple[int, int]:
    """Replace every cache file by one built from the rows of the current generation; returns
    the generation and the number of vectors. The caller keeps writers out."""
    for path in cache_files(root).values():
        path.unlink(missing_ok=True)
    with _connect(root) as db:
        db.execute("BEGIN")
        gen = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        rows = db.execute(
            "SELECT c.rowid, e.vector FROM chunks c JOIN embeddings e ON e.text_hash = c.text_hash "
            "WHERE length(e.vector) = ?",
            (dim * 4,),
        ).fetchall()
        db.execute("COMMIT")
    index = FaissIndex(dim)
    if rows:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        index.add(ids, vecs.reshape(len(rows), dim))
    index.save(root / f"vectors-{gen}.faiss")
    return gen, len(rows)
