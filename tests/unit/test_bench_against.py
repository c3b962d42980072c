"""`rag bench --against llamaindex` on a small real dataset (a slice of HotpotQA), with the
hashing embedder and the network shut: both sides in one JSON, on the same chunks; without the
extra, one clear error before any work."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.cli.main import main
from tests.offline import shut_network

QUESTIONS, EXTRA_PASSAGES = 6, 30


@pytest.fixture
def dataset(shared_dir: Path, tmp_path: Path) -> Path:
    """The first questions of hotpotqa_train100, their passages and some others."""
    src = shared_dir / "datasets" / "hotpotqa_train100"
    questions = [json.loads(line) for line in (src / "questions.jsonl").open()][:QUESTIONS]
    corpus = [json.loads(line) for line in (src / "corpus.jsonl").open()]
    wanted = {g for q in questions for g in q["supporting_ids"]}
    passages = [p for p in corpus if p["id"] in wanted]
    passages += [p for p in corpus if p["id"] not in wanted][:EXTRA_PASSAGES]
    out = tmp_path / "hotpot_slice"
    out.mkdir()
    for name, rows in (("questions.jsonl", questions), ("corpus.jsonl", passages)):
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return out


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RAG_HOME", str(home))
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    monkeypatch.delenv("RAG_STORE", raising=False)
    shut_network(monkeypatch)
    return home


def _bench(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["bench", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else out, err


def test_both_sides_on_the_same_chunks_with_sane_numbers(
    dataset: Path, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("llama_index.core")
    code, r, err = _bench(capsys, str(dataset), "--against", "llamaindex", "--json")
    assert code == 0, err
    assert r["queries"] == QUESTIONS and r["embedder"] == "hashing-256"
    assert r["chunks"]["ours"] == r["chunks"]["llamaindex"] >= r["documents"] > QUESTIONS
    assert r["chunks"]["same_ids"] is True
    paths = {f"ours {m}": s for m, s in r["ours"]["retrieval"].items()}
    paths["llamaindex dense"] = r["llamaindex"]["retrieval"]["dense"]
    assert set(paths) == {"ours dense", "ours bm25", "ours hybrid", "llamaindex dense"}
    for name, s in paths.items():
        assert 0.0 <= s["recall@5"] <= 1.0 and 0.0 <= s["mrr"] <= 1.0, name
        assert 0.0 < s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"], name
        assert 0.0 < s["search_p50_ms"] <= s["p50_ms"], name
    # the same vectors searched exactly on both sides: the same passages, the same recall
    assert r["dense_top5_agreement"] == 1.0
    assert paths["ours dense"]["recall@5"] == paths["llamaindex dense"]["recall@5"]
    for side in (r["ours"], r["llamaindex"]):
        ing = side["ingest"]
        assert ing["seconds"] > ing["embed_s"] > 0.0 and ing["other_s"] > 0.0
    assert r["ours"]["disk_bytes"] > 0 and r["llamaindex"]["persist"]["disk_bytes"] > 0
    ours_p50, their_p50 = paths["ours dense"]["p50_ms"], paths["llamaindex dense"]["p50_ms"]
    assert r["ratios"]["dense_p50_ms"] == round(ours_p50 / their_p50, 3)
    assert r["ratios"]["ingest_s"] == round(
        r["ours"]["ingest"]["seconds"] / r["llamaindex"]["ingest"]["seconds"], 3
    )
    # the fresh store and the persisted LlamaIndex copy are benchmark scratch: both are gone
    assert not [p for p in (env / "bench").iterdir()]


def test_a_store_that_holds_something_is_refused(
    dataset: Path, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("llama_index.core")
    store = tmp_path / "full"
    store.mkdir()
    (store / "keep.txt").write_text("mine")
    code, _, err = _bench(capsys, str(dataset), "--against", "llamaindex", "--store", str(store))
    assert code == 2 and "is not empty" in err
    assert (store / "keep.txt").read_text() == "mine"


def test_without_the_extra_one_error_names_the_install_command(
    dataset: Path, env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith("llama_index") or m == "rag.bench_llamaindex"]:  # fmt: skip
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "llama_index", None)  # as if the extra were not installed
    code, _, err = _bench(capsys, str(dataset), "--against", "llamaindex", "--json")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "pip install -e '.[llamaindex]'" in lines[0]
    assert not (env / "bench").exists()  # it failed before ingesting anything
