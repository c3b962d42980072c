"""SIGKILL a `rag ingest --graph llm` while the LLM extracts; the rerun asks the LLM only for
the chunks not yet refined and ends with the graph one uninterrupted run builds.

The LLM is the fake OpenAI-compatible server (answers derived from each chunk's text, slowed
so the run can be caught in the middle), the embedder the hashing one: no models needed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from graph.store import DB_FILE, SqliteGraphStore
from tests.fake_openai import fake_openai

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "corpora" / "demo"
SUMMARY = "These entities belong together."


def _ingest(store: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RAG_EMBEDDER": "hashing", "RAG_STORE": str(store),
           "RAG_GENERATOR": "openai", "RAG_OPENAI_BASE_URL": url, "RAG_OPENAI_MODEL": "fake"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli.main", "ingest", str(DEMO), "--graph", "llm"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _refined(store: Path) -> int:
    try:
        with sqlite3.connect(store / DB_FILE, timeout=5) as db:
            return int(
                db.execute("SELECT COUNT(*) FROM extractions WHERE extractor = 'llm'").fetchone()[0]
            )
    except sqlite3.Error:  # not created yet
        return 0


def _chunks(store: Path) -> dict[str, dict[str, str]]:
    """doc id → chunk id → text, from the chunk store."""
    out: dict[str, dict[str, str]] = {}
    with sqlite3.connect(store / "store.sqlite") as db:
        for cid, doc_id, text in db.execute("SELECT id, doc_id, text FROM chunks"):
            out.setdefault(doc_id, {})[cid] = text
    return out


def _graph(store: Path) -> tuple[object, ...]:
    g = SqliteGraphStore(store)
    try:
        return (
            [(e.id, e.name, e.aliases, e.chunk_ids) for e in g.entities()],
            [(r.id, r.weight, r.chunk_ids) for r in g.relations()],
            [(c.level, c.entity_ids, c.summary) for c in g.communities()],
        )
    finally:
        g.close()


def _finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_killed_llm_ingest_resumes_where_it_stopped(tmp_path: Path) -> None:
    t0 = time.monotonic()
    store = tmp_path / "kb"
    with fake_openai(SUMMARY, delay_s=0.05) as (url, _):
        proc = _ingest(store, url)
        try:
            while _refined(store) < 8:  # well into the LLM pass, far from its end
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() - t0 < 40, "the LLM pass never started"
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    chunks = _chunks(store)
    g = SqliteGraphStore(store)
    try:
        rows = {d: {e.chunk_id: e.extractor for e in g.extractions_of(d)} for d in chunks}
        done, started = g.doc_ids(), g.unfinished_doc_ids()
        assert g.entities() == []  # killed before the graph was first resolved
    finally:
        g.close()
    assert all(set(rows[d]) == set(chunks[d]) for d in chunks)  # the fast pass, whole
    assert started and done | started == set(chunks) and not done & started
    assert all(set(rows[d].values()) == {"llm"} for d in done)  # done means all refined
    not_refined = [chunks[d][c] for d in chunks for c, x in rows[d].items() if x != "llm"]
    assert 0 < len(not_refined) <= sum(map(len, chunks.values())) - 8

    with fake_openai(SUMMARY) as (url, rerun):
        _finish(_ingest(store, url))
        with fake_openai(SUMMARY) as (url2, _):
            _finish(_ingest(tmp_path / "uninterrupted", url2))
    assert Counter(rerun.extraction_texts()) == Counter(not_refined)
    resumed = _graph(store)
    assert resumed[0] and resumed == _graph(tmp_path / "uninterrupted")
    assert time.monotonic() - t0 < 55
