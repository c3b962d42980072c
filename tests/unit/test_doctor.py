"""`rag doctor`: each way a store's parts can disagree is found, counted and, where it is derived,
repaired — without deleting a document, and with retrieval the same afterwards."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from ingest.embedding import HashingEmbedder
from ingest.errors import StoreLocked
from rag.cli.main import main
from rag.doctor import diagnose, repair
from rag.engine import Engine
from rag.settings import Settings

QUESTION = "QLoRA 4-bit NF4"


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("healthy") / "store"
    with Engine(Settings(store_dir=root, embedder="hashing"), embedder=HashingEmbedder()) as e:
        e.ingest([demo_dir])
    return root


@pytest.fixture
def store(settings: Settings, healthy: Path) -> Settings:
    """A copy of one store of the demo corpus (hashing embedder, fast graph) to damage."""
    shutil.copytree(healthy, settings.store_dir)
    return settings


def _top(settings: Settings) -> list[str]:
    with Engine(settings, embedder=HashingEmbedder()) as engine:
        return [h.chunk.id for h in engine.retrieve(QUESTION, k=5)]


def _sources(settings: Settings) -> list[str]:
    with Engine(settings) as engine:
        return [d.source for d in engine.documents()]


def _sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as db:
        for s in statements:
            db.execute(s)


def _store_db(s: Settings) -> Path:
    return s.store_dir / "store.sqlite"


def _graph_db(s: Settings) -> Path:
    return s.store_dir / "graph.sqlite"


def _cache(s: Settings) -> Path:
    (path,) = s.store_dir.glob("vectors-*.faiss")
    return path


DAMAGE: dict[str, tuple[Callable[[Settings], None], dict[str, int]]] = {
    "keyword rows lost": (
        lambda s: _sql(
            _store_db(s), "DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks LIMIT 3)"
        ),
        {"missing_keywords": 3},
    ),
    "keyword rows of no chunk": (
        lambda s: _sql(
            _store_db(s), "INSERT INTO chunks_fts(rowid, tokens) VALUES (999999, 'ghost words')"
        ),
        {"orphan_keywords": 1},
    ),
    "keyword rows that are not the text's": (
        lambda s: _sql(
            _store_db(s),
            "UPDATE chunks_fts SET tokens = 'wrong' WHERE rowid IN "
            "(SELECT rowid FROM chunks LIMIT 4)",
        ),
        {"stale_keywords": 4},
    ),
    "vectors lost": (
        lambda s: _sql(
            _store_db(s),
            "DELETE FROM embeddings WHERE text_hash IN (SELECT text_hash FROM chunks LIMIT 2)",
        ),
        {"missing_vectors": 2},
    ),
    "a vector of the wrong size": (
        lambda s: _sql(
            _store_db(s),
            "UPDATE embeddings SET vector = x'00000000' WHERE text_hash "
            "IN (SELECT text_hash FROM chunks LIMIT 1)",
        ),
        {"bad_vectors": 1},
    ),
    "a chunk of no document": (
        lambda s: _sql(
            _store_db(s),
            "INSERT INTO chunks(id, doc_id, ordinal, text, text_hash, "
            "heading_path, page, kind, n_tokens) SELECT 'orphan', 'gone', 0, text, "
            "text_hash, heading_path, page, kind, n_tokens FROM chunks LIMIT 1",
        ),
        {"orphan_chunks": 1},
    ),
    "an unreadable vector cache": (
        lambda s: _cache(s).write_bytes(b"not a faiss index"),
        {"vector_cache_corrupt": 1},
    ),
    "a vector cache of an older generation": (
        lambda s: _cache(s).rename(s.store_dir / "vectors-1.faiss"),
        {"stale_vector_cache": 1},
    ),
    "a vector cache missing chunks": (
        lambda s: _shrink_cache(_cache(s), 5),
        {"vector_cache_missing": 5},
    ),
    "a document the graph lacks": (
        lambda s: _sql(
            _graph_db(s),
            "DELETE FROM graph_docs WHERE doc_id IN (SELECT doc_id FROM graph_docs LIMIT 1)",
        ),
        {"graph_missing_docs": 1},
    ),
    "a document only the graph has": (
        lambda s: _sql(_graph_db(s), "INSERT INTO graph_docs VALUES ('deleted-doc', 'fast')"),
        {"graph_orphan_docs": 1},
    ),
    "an entity without a source": (
        lambda s: _sql(
            _graph_db(s),
            "DELETE FROM mentions WHERE entity_id IN (SELECT id FROM entities LIMIT 1)",
        ),
        {"entity_without_source": 1},
    ),
    "an entity citing a missing chunk": (
        lambda s: _sql(
            _graph_db(s), "INSERT INTO mentions SELECT id, 'no-such-chunk' FROM entities LIMIT 2"
        ),
        {"entity_orphan_chunks": 1},
    ),
    "a resolved graph that lags": (
        lambda s: _sql(_graph_db(s), "UPDATE meta SET value = '1' WHERE key = 'stale'"),
        {"graph_stale": 1},
    ),
    "an unreadable graph": (
        lambda s: _clobber(_graph_db(s)),
        {"graph_corrupt": 1},
    ),
}


def _shrink_cache(path: Path, n: int) -> None:
    from ingest.vector_index import FaissIndex

    index = FaissIndex.load(path)
    index.remove(index.ids()[:n].tolist())
    index.save(path)


def _clobber(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)


def test_a_fresh_store_is_healthy(store: Settings) -> None:
    report = diagnose(store)
    assert report.ok, report.problems
    assert report.documents == 10 and report.chunks > 50


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_found_counted_and_repaired(store: Settings, damage: str) -> None:
    before_top, before_docs = _top(store), _sources(store)
    harm, expected = DAMAGE[damage]
    harm(store)
    found = {p.code: p.count for p in diagnose(store).problems}
    for code, count in expected.items():
        assert found.get(code) == count, found
    assert all(p.repairable for p in diagnose(store).problems if p.code in expected)

    report = repair(store)
    assert report.ok, report.problems
    assert report.repaired
    assert _sources(store) == before_docs  # no document deleted
    assert _top(store) == before_top  # and retrieval is what it was
    assert diagnose(store).ok


def test_what_only_a_reingest_can_fix_is_reported_not_deleted(store: Settings) -> None:
    _sql(_store_db(store), "DELETE FROM chunks WHERE rowid IN (SELECT rowid FROM chunks LIMIT 1)")
    docs = _sources(store)
    report = repair(store)
    (problem,) = [p for p in report.problems if p.code == "document_chunks"]
    assert problem.count == 1 and not problem.repairable and "ingest" in problem.message
    assert _sources(store) == docs


def test_a_damaged_database_is_reported_and_left_alone(store: Settings) -> None:
    db = _store_db(store)
    _sql(db, "PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    data[4096 : 4096 * 3] = b"\xff" * (4096 * 2)  # the second and third pages
    db.write_bytes(bytes(data))
    report = repair(store)
    assert [p.code for p in report.problems] == ["sqlite_corrupt"]
    assert "rag restore" in report.problems[0].message
    assert not report.repaired


def test_another_embedder_in_the_settings_is_a_problem(store: Settings) -> None:
    manifest = store.store_dir / "manifest.json"
    m = json.loads(manifest.read_text("utf-8"))
    m["embedder"]["name"] = "multilingual-e5-small"
    manifest.write_text(json.dumps(m), "utf-8")
    codes = [p.code for p in diagnose(store).problems]
    assert codes == ["embedder_mismatch"]


def test_doctor_waits_for_a_writer_then_says_so(store: Settings) -> None:
    from dataclasses import replace

    lock = FileLock(str(store.store_dir / ".write.lock"))
    with lock, pytest.raises(StoreLocked, match="another process is writing"):
        diagnose(replace(store, write_wait=0.2))


def test_the_cli_prints_a_line_per_problem_and_exits_1(
    store: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    args = ["doctor", "--store", str(store.store_dir)]
    assert main(args) == 0
    assert "ok:" in capsys.readouterr().out
    DAMAGE["keyword rows lost"][0](store)
    DAMAGE["vectors lost"][0](store)
    assert main(args) == 1
    out = capsys.readouterr().out.splitlines()
    problems = [line for line in out if line.startswith("problem ")]
    assert problems == [
        "problem missing_vectors: 2 chunks without a vector  [--repair embeds them again]",
        "problem missing_keywords: 3 chunks without a keyword-index row  [--repair rebuilds the "
        "keyword index]",
    ]
    assert out[-1] == "2 problems found; `rag doctor --repair` fixes them"
    assert main([*args, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and {p["code"] for p in data["problems"]} == {
        "missing_vectors", "missing_keywords"}  # fmt: skip
    assert main([*args, "--repair"]) == 0
    assert main(args) == 0


def test_a_missing_store_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--store", str(tmp_path / "nothing")]) == 1
    assert "no store at" in capsys.readouterr().err
