"""kill -9 of `rag ingest` in every phase, then the store is checked and the ingest re-run.

The CI subset of scripts/fault_trials.py (which runs 100 and more): 4 kills at a chosen call of
each phase's boundary (parsing, embedding, index write, graph write, FAISS save — every point
`tests.fault_injection` has in it) and 5 after a random delay, each checked as
tests/kill_trials.py says; then a kill during a new store's first write. Measured on two shared
cores: 73 s at a load average of 5, 116 s at 8 (the bench takes 10 s to build, a trial 2-5 s:
a `rag` process killed, the checks on a copy, the re-run in this process).
"""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.fault_injection import PHASES, POINTS
from tests.kill_trials import DIM, Bench, doctor, run_trial, start_ingest
from tests.store_checks import fingerprint, leftovers, problems

PER_PHASE, RANDOM_KILLS = 4, 5
TRIALS = [
    (phase, POINTS[phase][i % len(POINTS[phase])], i) for phase in PHASES for i in range(PER_PHASE)
] + [("random", "", i) for i in range(RANDOM_KILLS)]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Bench:
    corpus = shared_dir / "datasets" / "hotpotqa_train100" / "corpus.jsonl"
    return Bench.prepare(tmp_path_factory.mktemp("faults"), corpus)


@pytest.mark.parametrize(
    ("phase", "point", "i"), TRIALS, ids=[f"{p}-{pt or 'time'}-{i}" for p, pt, i in TRIALS]
)
def test_a_killed_ingest_loses_nothing(
    bench: Bench, tmp_path: Path, phase: str, point: str, i: int
) -> None:
    rng = random.Random(f"{phase}{point}{i}")  # the same trials on every run
    fault = None if phase == "random" else f"{phase}:{rng.randint(1, bench.calls[phase])}:{point}"
    outcome = run_trial(bench, fault, tmp_path / "trial", rng)
    assert outcome.survived, f"{outcome.label} (died in {outcome.phase}): {outcome.problems}"


def test_the_bench_reaches_every_phase(bench: Bench) -> None:
    """A phase the uninterrupted ingest never calls could not be killed in."""
    assert all(bench.calls[p] >= 1 for p in PHASES), bench.calls
    assert bench.calls["index"] == len(fingerprint(bench.reference)) - len(fingerprint(bench.base))


def _damaged(bench: Bench, tmp_path: Path, sql: str, db: str = "store.sqlite") -> Path:
    store = tmp_path / "damaged"
    shutil.copytree(bench.reference, store)
    with sqlite3.connect(store / db) as con:
        con.execute(sql)
    return store


@pytest.mark.parametrize(
    ("sql", "db", "expected"),
    [
        ("DELETE FROM chunks_fts WHERE rowid = (SELECT MAX(rowid) FROM chunks)", "store.sqlite",
         "1 chunks without a keyword row"),
        ("DELETE FROM chunks WHERE rowid = (SELECT MAX(rowid) FROM chunks)", "store.sqlite",
         "1 documents whose chunk count is not n_chunks"),
        ("DELETE FROM embeddings WHERE rowid = (SELECT MIN(rowid) FROM embeddings)",
         "store.sqlite", "chunks without a vector"),
        ("UPDATE chunks SET ordinal = ordinal + 1 WHERE rowid = (SELECT MAX(rowid) FROM chunks)",
         "store.sqlite", "1 documents whose chunk ordinals are not 0..n-1"),
        ("INSERT INTO mentions SELECT id, 'no-such-chunk' FROM entities LIMIT 1", "graph.sqlite",
         "1 mentions of chunks not in the store"),
        ("DELETE FROM mentions WHERE entity_id = (SELECT MIN(id) FROM entities)", "graph.sqlite",
         "1 entities without a source chunk"),
    ],
    ids=["keyword-row", "chunk", "vector", "ordinal", "mention", "entity"],
)  # fmt: skip
def test_the_check_finds_a_damaged_store(
    bench: Bench, tmp_path: Path, sql: str, db: str, expected: str
) -> None:
    """The check the trials rely on is not one that always passes."""
    assert problems(bench.reference, DIM) == []
    found = problems(_damaged(bench, tmp_path, sql, db), DIM)
    assert any(expected in p for p in found), found


def test_the_check_finds_a_vector_cache_of_other_chunks(bench: Bench, tmp_path: Path) -> None:
    import faiss

    store = tmp_path / "damaged"
    shutil.copytree(bench.reference, store)
    (cache,) = store.glob("vectors-*.faiss")
    index = faiss.read_index(str(cache))
    index.remove_ids(faiss.vector_to_array(index.id_map)[:1])
    faiss.write_index(index, str(cache))
    assert any("lacks 1 chunks" in p for p in problems(store, DIM))


def test_a_kill_while_a_new_store_writes_its_manifest(bench: Bench, tmp_path: Path) -> None:
    """The first write of a store: killed with only the manifest's temp file in the folder,
    which must not make the folder look like someone else's ("not empty, no manifest")."""
    store, err = tmp_path / "kb", tmp_path / "stderr"
    proc = start_ingest(store, [bench.first], err, spec="atomic:1:tmp")
    assert proc.wait(timeout=120) == -signal.SIGKILL, err.read_text()
    assert [p.name.startswith(".manifest.json.") for p in store.iterdir()] == [True]
    proc = start_ingest(store, [bench.first], err)
    assert proc.wait(timeout=120) == 0, err.read_text()
    assert fingerprint(store) == fingerprint(bench.base)
    assert problems(store, DIM) + doctor(store)[0] + leftovers(store) == []
