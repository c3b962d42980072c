"""Killing `rag ingest` with SIGKILL mid-batch leaves a consistent store; a rerun finishes it.

A kill after a delay in a long batch (1500 documents, graph off); tests/integration/test_faults.py
kills at chosen points of every phase, with the same checks (tests/store_checks.py)."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from tests.kill_trials import DIM, doctor, notes, start_ingest
from tests.store_checks import answers, fingerprint, problems


def _count_docs(store: Path) -> int:
    try:
        with sqlite3.connect(store / "store.sqlite", timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def _check_consistent(store_dir: Path, killed: bool = False) -> int:
    assert problems(store_dir, DIM) == []
    # a kill between a commit and the cache's save leaves the previous generation's file
    allowed = frozenset({"stale_vector_cache"} if killed else ())
    assert doctor(store_dir, allowed, graph="off")[0] == []
    assert answers(store_dir, DIM) == []
    return len(fingerprint(store_dir))


def test_kill_mid_ingest_keeps_the_previous_store(tmp_path: Path, shared_dir: Path) -> None:
    store = tmp_path / "kb"
    first, second = tmp_path / "first", tmp_path / "second"
    notes(first, shared_dir / "seeds", 20)
    notes(second, shared_dir / "seeds", 1500)
    err = tmp_path / "stderr"
    proc = start_ingest(store, [first], err, graph="off")
    assert proc.wait(timeout=120) == 0, err.read_text()
    assert _check_consistent(store) == 20

    proc = start_ingest(store, [second], err, graph="off")
    deadline = time.time() + 120
    while _count_docs(store) < 60 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed; enlarge the corpus"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    survived = _check_consistent(store, killed=True)
    assert 60 <= survived < 1520
    assert _count_docs(store) == survived

    proc = start_ingest(store, [first, second], err, graph="off")
    assert proc.wait(timeout=600) == 0, err.read_text()
    summary = err.read_text()
    assert f"{1520 - survived} added" in summary and f"{survived} unchanged" in summary
    assert _check_consistent(store) == 1520
