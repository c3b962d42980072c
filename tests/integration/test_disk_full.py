"""A full disk during an ingest, a graph write and a FAISS save: one clear line, exit 1, and the
store as it was before the failed write — every earlier document whole, the store opens and
answers — and once there is space again a re-run completes.

The disk is a real 8 MiB tmpfs (`mount -t tmpfs`, which needs root); the test skips where
mounting is not allowed. It fills up either ahead of the ingest or at an exact point inside it
(tests/fault_injection.py's `fill`: another process's file growing until nothing is left).
Measured: 31 s at a load average of 5 on two cores (47 s at 8); each case runs `rag` 3-5 times.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.atomic import out_of_space, write_bytes_atomic
from ingest.errors import DiskFull
from tests.kill_trials import DIM, RESUMABLE, ROOT, articles, doctor, rag_env, start_ingest
from tests.store_checks import answers, fingerprint, leftovers, problems

QUESTION = "Which magazine was started first?"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted afterwards whatever happens."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small disk to fill")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {made.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take every byte of `disk` but `leave`, with a file of its own."""
    filler = disk / "filler"
    with filler.open("ab", buffering=0) as f:
        for size in (2**20, 2**12):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    if leave:
        with filler.open("r+b") as f:
            f.truncate(max(0, filler.stat().st_size - leave))
    return filler


def grow(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> dict[str, Path]:
    """Two folders of articles and a store holding the first (built on an ordinary disk)."""
    work = tmp_path_factory.mktemp("disk-full")
    source = shared_dir / "datasets" / "hotpotqa_train100" / "corpus.jsonl"
    articles(work / "first", source, 6, per_doc=3)
    articles(work / "second", source, 40, per_doc=3, start=6)
    proc = start_ingest(work / "base", [work / "first"], work / "err")
    assert proc.wait(timeout=300) == 0, (work / "err").read_text()
    return {"first": work / "first", "second": work / "second", "base": work / "base"}


def _rag(store: Path, *args: str, **fault: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.fault_injection", *args], cwd=ROOT,
        env=rag_env(store, **fault), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: disk full: "), proc.stderr
    assert "internal error" not in proc.stderr
    return lines[0]


def _answers_while_full(store: Path, base: Path) -> None:
    """The store opens and answers on the still-full disk, from documents written before."""
    proc = _rag(store, "ask", QUESTION, "--retrieve-only", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = _rag(store, "docs")
    assert listed.returncode == 0, listed.stderr
    for doc in fingerprint(base).values():
        assert Path(doc[0]).name in listed.stdout


def _intact(store: Path, base: Path, allowed: frozenset[str] = RESUMABLE) -> None:
    """Consistent, and every document of the previous store as it was."""
    assert problems(store, DIM) == []
    assert doctor(store, allowed)[0] == []
    got = fingerprint(store)
    assert all(got.get(d) == doc for d, doc in fingerprint(base).items())
    assert [n for n in leftovers(store) if n.endswith(".tmp")] == []


def _rerun_completes(disk: Path, store: Path, corpus: dict[str, Path]) -> None:
    grow(disk)  # the whole corpus with its graph takes more than the 8 MiB
    proc = _rag(store, "ingest", str(corpus["first"]), str(corpus["second"]))
    assert proc.returncode == 0, proc.stderr
    assert "0 failed" in proc.stderr
    assert len(fingerprint(store)) == 46
    assert problems(store, DIM) + doctor(store)[0] + leftovers(store) == []
    assert answers(store, DIM) == []


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp_file(disk: Path) -> None:
    target = disk / "manifest.json"
    write_bytes_atomic(target, b"before")
    fill(disk)
    with pytest.raises(DiskFull, match=f"no space left to write {target}"):
        write_bytes_atomic(target, b"after" * 100_000)
    assert target.read_bytes() == b"before"
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "manifest.json"]


def test_a_new_store_on_a_full_disk(disk: Path, corpus: dict[str, Path]) -> None:
    store = disk / "kb"
    filler = fill(disk)
    line = _one_line_error(_rag(store, "ingest", str(corpus["first"])))
    assert str(store / "manifest.json") in line
    assert list(store.iterdir()) == []  # no temp file: a later ingest may take the folder
    filler.unlink()
    _rerun_completes(disk, store, corpus)


def test_disk_full_during_ingest(disk: Path, corpus: dict[str, Path]) -> None:
    store = disk / "kb"
    shutil.copytree(corpus["base"], store)
    fill(disk, leave=128 * 2**10)  # a few documents' worth
    line = _one_line_error(_rag(store, "ingest", str(corpus["second"])))
    assert f"no space left to write {store / 'store.sqlite'}" in line
    _answers_while_full(store, corpus["base"])
    grow(disk)
    _intact(store, corpus["base"])
    assert len(fingerprint(store)) > 6  # some of the new documents went in before it was full
    _rerun_completes(disk, store, corpus)


def test_disk_full_during_the_graph_write(disk: Path, corpus: dict[str, Path]) -> None:
    store = disk / "kb"
    shutil.copytree(corpus["base"], store)
    proc = _rag(store, "ingest", str(corpus["second"]), spec="graph:1:inside:fill",
                fill=str(disk / "filler"))  # fmt: skip
    assert f"no space left to write {store / 'graph.sqlite'}" in _one_line_error(proc)
    _answers_while_full(store, corpus["base"])
    (disk / "filler").unlink()
    _intact(store, corpus["base"])
    assert len(fingerprint(store)) == 46  # every document was stored before the graph's turn
    _rerun_completes(disk, store, corpus)


def test_disk_full_during_the_faiss_save(disk: Path, corpus: dict[str, Path]) -> None:
    store = disk / "kb"
    shutil.copytree(corpus["base"], store)
    proc = _rag(store, "ingest", str(corpus["second"]), spec="faiss:1:before:fill",
                fill=str(disk / "filler"))  # fmt: skip
    line = _one_line_error(proc)
    assert "the documents are stored" in line and "vector index cache" in line
    assert str(store) in line
    assert not list(store.glob(".*.tmp"))  # the failed save took its temp file with it
    _answers_while_full(store, corpus["base"])
    (disk / "filler").unlink()
    _intact(store, corpus["base"])
    assert len(fingerprint(store)) == 46  # the cache is derived: no document was lost with it
    _rerun_completes(disk, store, corpus)


def test_only_running_out_of_space_is_called_a_full_disk(tmp_path: Path) -> None:
    """Other write errors keep their own type: a full disk is not a catch-all."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):  # FileExistsError: the folder to make is a file
        write_bytes_atomic(tmp_path / "file" / "manifest.json", b"{}")
    db = sqlite3.connect(tmp_path / "db.sqlite")
    with pytest.raises(sqlite3.OperationalError) as e:
        db.execute("SELECT * FROM no_such_table")
    assert not out_of_space(e.value, tmp_path / "db.sqlite")
    assert out_of_space(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert not out_of_space(OSError(errno.EIO, os.strerror(errno.EIO)))


def test_doctor_on_a_full_disk_says_so_rather_than_calling_the_store_corrupt(
    disk: Path, corpus: dict[str, Path]
) -> None:
    store = disk / "kb"
    shutil.copytree(corpus["base"], store)
    for side in store.glob("*-shm"):  # closed cleanly: SQLite must make its side files again
        side.unlink()
    fill(disk)
    line = _one_line_error(_rag(store, "doctor"))
    assert "store.sqlite" in line and "corrupt" not in line
    grow(disk)
    proc = _rag(store, "doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
