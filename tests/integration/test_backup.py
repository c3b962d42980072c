"""`rag backup` / `rag restore`: a copy taken while another process ingests is one consistent
state that `rag doctor` passes, and restoring it never overwrites or loses a store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(store: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAG_EMBEDDER": "hashing",
        "RAG_STORE": str(store),
        "PYTHONPATH": str(ROOT),
    }


def rag(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli.main", *args], cwd=ROOT, env=_env(store),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _corpus(folder: Path, seeds: Path, n: int) -> None:
    """n small documents cut from the real seed notes (Chinese and English)."""
    text = "".join(p.read_text("utf-8") for p in sorted(seeds.glob("*.txt")))
    folder.mkdir(parents=True)
    step = max(1, (len(text) - 800) // n)
    for i in range(n):
        (folder / f"note_{i:04d}.md").write_text(
            f"# Note {i}\n\n{text[i * step : i * step + 800]}\n", encoding="utf-8"
        )


def _docs(store: Path) -> dict[str, int]:
    with sqlite3.connect(store / "store.sqlite") as db:
        return dict(db.execute("SELECT source, n_chunks FROM documents"))


# an ingest that stops after its PAUSE_AT-th document is committed, until the test says go: a
# backup taken then is certain to fall inside the batch, with the write lock held and the graph
# not yet brought in step
WRITER = """
import sys, time, pathlib
from rag.engine import Engine
from rag.settings import Settings
folder, marker, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
def progress(ev):
    if ev.result is not None and ev.done == int(sys.argv[4]):
        marker.touch()
        t = time.monotonic()
        while not go.exists() and time.monotonic() - t < 120:
            time.sleep(0.05)
with Engine(Settings.from_env()) as engine:
    engine.ingest([folder], progress=progress)
"""
PAUSE_AT = 12


def test_backups_taken_during_an_ingest_are_consistent_and_restorable(
    tmp_path: Path, shared_dir: Path
) -> None:
    store = tmp_path / "kb"
    first, more = tmp_path / "first", tmp_path / "more"
    _corpus(first, shared_dir / "seeds", 10)
    _corpus(more, shared_dir / "seeds", 40)
    assert rag(store, "ingest", str(first)).returncode == 0
    marker, go = tmp_path / "paused", tmp_path / "go"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(more), str(marker), str(go), str(PAUSE_AT)],
        cwd=ROOT, env=_env(store), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    backups: list[Path] = []
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the writer never reached its pause"
        backups.append(tmp_path / "mid")  # the writer holds the lock, its graph lags
        done = rag(store, "backup", str(backups[0]))
        assert done.returncode == 0, done.stdout + done.stderr
        go.touch()
        while writer.poll() is None and len(backups) < 4:  # and while it writes on
            backups.append(tmp_path / f"during-{len(backups)}")
            done = rag(store, "backup", str(backups[-1]))
            assert done.returncode == 0, done.stdout + done.stderr
        _, err = writer.communicate(timeout=300)
    finally:
        writer.kill()
    assert writer.returncode == 0, err
    final = _docs(store)
    assert len(final) == 50
    assert len(_docs(backups[0])) == 10 + PAUSE_AT
    for dest in backups:
        held = _docs(dest)
        assert len(held) == json.loads((dest / "backup.json").read_text("utf-8"))["documents"]
        assert all(final.get(src) == n for src, n in held.items())  # whole documents only
        check = rag(dest, "doctor", "--store", str(dest))
        assert check.returncode == 0, check.stdout
    # the one caught mid-ingest restores into a store that answers and passes the doctor
    restored = tmp_path / "restored"
    done = rag(restored, "restore", str(backups[0]), "--store", str(restored))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _docs(restored) == _docs(backups[0])
    hits = rag(restored, "ask", "LoRA", "--retrieve-only", "--json", "--store", str(restored))
    assert hits.returncode == 0 and json.loads(hits.stdout)["sources"]


@pytest.fixture
def small_store(tmp_path: Path, demo_dir: Path) -> Path:
    store = tmp_path / "kb"
    assert rag(store, "ingest", str(demo_dir)).returncode == 0
    return store


def test_restore_never_writes_over_a_store(tmp_path: Path, small_store: Path) -> None:
    backup = tmp_path / "backup"
    assert rag(small_store, "backup", str(backup)).returncode == 0
    again = rag(small_store, "backup", str(backup))
    assert again.returncode == 2 and "already exists and is not empty" in again.stderr
    inside = rag(small_store, "backup", str(small_store / "copy"))
    assert inside.returncode == 2 and "inside the store" in inside.stderr

    other = tmp_path / "other"
    assert rag(other, "ingest", str(ROOT / "README.md")).returncode == 0
    refused = rag(other, "restore", str(backup))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert list(_docs(other)) == [str(ROOT / "README.md")]  # untouched

    forced = rag(other, "restore", str(backup), "--force")
    assert forced.returncode == 0, forced.stderr
    assert _docs(other) == _docs(small_store)
    (aside,) = tmp_path.glob("other.before-restore-*")
    assert list(_docs(aside)) == [str(ROOT / "README.md")]  # moved aside, not deleted


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path, small_store: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello", "utf-8")
    done = rag(tmp_path / "new", "restore", str(junk))
    assert done.returncode == 1 and "holds no store" in done.stderr
    assert not (tmp_path / "new").exists()

    backup = tmp_path / "backup"
    assert rag(small_store, "backup", str(backup)).returncode == 0
    (backup / "store.sqlite").write_bytes(b"garbage" * 1000)
    damaged = rag(tmp_path / "new", "restore", str(backup))
    assert damaged.returncode == 1 and "fails SQLite's check" in damaged.stderr
    assert not (tmp_path / "new").exists()
