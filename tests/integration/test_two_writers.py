"""Two `rag ingest` processes on one store: the second waits (--wait) or fails in one line
(StoreLocked, exit 1) and never corrupts the store; afterwards it holds every document of each
ingest that reported success, whole."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.load_harness import DEMO, ROOT, doctor, new_document, rag, store_problems

_TEXTS = [p.read_text("utf-8") for p in sorted(DEMO.glob("*.md"))]


def _corpus(folder: Path, kind: str, n: int) -> set[str]:
    """n documents of a few chunks each; their sources as the store names them."""
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{kind}_{i:04d}.md").write_text(new_document(kind, i, _TEXTS), "utf-8")
    return {str(p.resolve()) for p in folder.iterdir()}


def _env(tmp: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "PYTHONPATH": str(ROOT), "HOME": str(tmp / "home"), "RAG_EMBEDDER": "hashing",
            "RAG_GRAPH": "off"}  # fmt: skip


def _ingest(tmp: Path, store: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        rag("ingest", "--store", str(store), "--json", *args), env=_env(tmp), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _sources(store: Path) -> set[str]:
    with sqlite3.connect(store / "store.sqlite", timeout=30) as db:
        return {r[0] for r in db.execute("SELECT source FROM documents")}


def _writing(store: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until `proc` has written its first documents, so it holds the store's write lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _sources(store):
                return
        except sqlite3.Error:  # not created yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"the first ingest never wrote (exit {proc.poll()})")


def _results(proc: subprocess.Popen[str], timeout: float = 600) -> dict[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return {r["source"]: r["status"] for r in json.loads(out)["results"]}


def test_a_second_writer_that_cannot_wait_fails_in_one_line(tmp_path: Path) -> None:
    store = tmp_path / "kb"
    first = _corpus(tmp_path / "first", "first", 300)
    second = _corpus(tmp_path / "second", "second", 20)
    a = _ingest(tmp_path, store, str(tmp_path / "first"))
    _writing(store, a)
    b = _ingest(tmp_path, store, "--wait", "0.5", str(tmp_path / "second"))
    out, err = b.communicate(timeout=120)
    assert a.poll() is None, "the first ingest ended before the second tried: enlarge it"
    assert b.returncode == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: another process is writing to {store} (waited 0.5 s)")
    assert "--wait SECONDS" in lines[0]

    assert set(_results(a).values()) == {"added"}
    assert store_problems(store) == [] and doctor(store, _env(tmp_path)) == []
    assert _sources(store) == first  # the refused ingest wrote nothing
    # the lock is free again: the second ingest now goes through
    assert set(_results(_ingest(tmp_path, store, str(tmp_path / "second"))).values()) == {"added"}
    assert store_problems(store) == [] and doctor(store, _env(tmp_path)) == []
    assert _sources(store) == first | second


def test_a_second_writer_with_wait_goes_after_the_first(tmp_path: Path) -> None:
    store = tmp_path / "kb"
    first = _corpus(tmp_path / "first", "first", 300)
    second = _corpus(tmp_path / "second", "second", 20)
    shared = sorted(first)[-5:]  # the last files the first ingest writes: the second names them too
    a = _ingest(tmp_path, store, str(tmp_path / "first"))
    _writing(store, a)
    b = _ingest(tmp_path, store, "--wait", "300", str(tmp_path / "second"), *shared)
    first_done, second_done = _results(a), _results(b)
    assert set(first_done.values()) == {"added"} and set(first_done) == first
    # the second started after the first had finished: what both name was already there,
    # and every document it wrote is younger than all of the first's
    assert {s: second_done[s] for s in shared} == dict.fromkeys(shared, "unchanged")
    assert {second_done[s] for s in second} == {"added"}
    with sqlite3.connect(store / "store.sqlite") as db:
        written = dict(db.execute("SELECT source, ingested_at FROM documents").fetchall())
    assert min(written[s] for s in second) > max(written[s] for s in first)
    assert store_problems(store) == [] and doctor(store, _env(tmp_path)) == []
    assert _sources(store) == first | second
