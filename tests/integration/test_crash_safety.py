"""Killing `rag ingest` with SIGKILL mid-batch leaves a consistent store; a rerun finishes it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from ingest.embedding import HashingEmbedder
from ingest.store import EmbeddedStore

ROOT = Path(__file__).resolve().parents[2]


def _corpus(folder: Path, seeds: Path, n: int) -> None:
    """n small documents cut from the real seed notes."""
    text = "".join(p.read_text("utf-8") for p in sorted(seeds.glob("*.txt")))
    folder.mkdir(parents=True)
    step = max(1, (len(text) - 600) // n)
    for i in range(n):
        (folder / f"note_{i:04d}.md").write_text(
            f"# Note {i}\n\n{text[i * step : i * step + 600]}\n", encoding="utf-8"
        )


def _rag(store: Path, *args: str) -> subprocess.Popen[bytes]:
    # the graph is not under test here and would only slow the rerun down
    env = {**os.environ, "RAG_EMBEDDER": "hashing", "RAG_STORE": str(store), "RAG_GRAPH": "off"}
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli.main", "ingest", *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _count_docs(store: Path) -> int:
    try:
        with sqlite3.connect(store / "store.sqlite", timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def _check_consistent(store_dir: Path) -> int:
    emb = HashingEmbedder()
    store = EmbeddedStore(store_dir, embedder_name=emb.name, dim=emb.dim, create=False)
    try:
        with sqlite3.connect(store_dir / "store.sqlite") as db:
            bad = db.execute(
                "SELECT d.id FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id "
                "GROUP BY d.id HAVING COUNT(c.rowid) != d.n_chunks"
            ).fetchall()
            assert bad == [], "documents with missing or extra chunks"
            orphans = db.execute(
                "SELECT COUNT(*) FROM chunks c LEFT JOIN documents d ON d.id = c.doc_id "
                "WHERE d.id IS NULL"
            ).fetchone()[0]
            assert orphans == 0
            chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            assert db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0] == chunks
            unembedded = db.execute(
                "SELECT COUNT(*) FROM chunks c LEFT JOIN embeddings e ON e.text_hash = c.text_hash "
                "WHERE e.text_hash IS NULL"
            ).fetchone()[0]
            assert unembedded == 0
        assert len(store.dense) == chunks
        return len(store.chunks.documents())
    finally:
        store.close()


def test_kill_mid_ingest_keeps_the_previous_store(tmp_path: Path, shared_dir: Path) -> None:
    store = tmp_path / "kb"
    first, second = tmp_path / "first", tmp_path / "second"
    _corpus(first, shared_dir / "seeds", 20)
    _corpus(second, shared_dir / "seeds", 1500)
    proc = _rag(store, str(first))
    assert proc.wait(timeout=120) == 0
    assert _check_consistent(store) == 20

    proc = _rag(store, str(second))
    deadline = time.time() + 120
    while _count_docs(store) < 60 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed; enlarge the corpus"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    survived = _check_consistent(store)
    assert 60 <= survived < 1520
    assert _count_docs(store) == survived

    proc = _rag(store, str(first), str(second))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    summary = err.decode()
    assert f"{1520 - survived} added" in summary and f"{survived} unchanged" in summary
    assert _check_consistent(store) == 1520
