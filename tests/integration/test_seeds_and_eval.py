"""Real Chinese input (the seed notes, one in traditional characters) and `rag eval` on a real
benchmark subset, with the real embedder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.embedding import Embedder
from rag.engine import Engine
from rag.evaluation import run_eval
from rag.settings import Settings


def test_seed_notes_ingest_and_answer_chinese_queries(
    tmp_path: Path, shared_dir: Path, real_embedder: Embedder
) -> None:
    engine = Engine(Settings.from_env(store_dir=tmp_path / "kb"), embedder=real_embedder)
    report = engine.ingest([shared_dir / "seeds"])
    assert report.failed == [] and report.count("added") == 5
    hits = engine.retrieve("QLoRA 量化低秩适应", k=5)
    assert any("QLoRA" in h.chunk.text for h in hits)
    trad = engine.retrieve("參數高效微調 LoRA", k=5, method="bm25")
    assert any("參數" in h.chunk.text for h in trad)
    engine.close()


def _subset(src: Path, dest: Path, n_questions: int, n_distractors: int) -> Path:
    """A small dataset in the same format: some questions, their passages and distractors."""
    questions = [json.loads(x) for x in (src / "questions.jsonl").read_text("utf-8").splitlines()]
    corpus = [json.loads(x) for x in (src / "corpus.jsonl").read_text("utf-8").splitlines()]
    keep_q = questions[:n_questions]
    wanted = {pid for q in keep_q for pid in q["supporting_ids"]}
    passages = [p for p in corpus if p["id"] in wanted]
    passages += [p for p in corpus if p["id"] not in wanted][:n_distractors]
    dest.mkdir()
    (dest / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in keep_q), "utf-8")
    (dest / "corpus.jsonl").write_text(
        "\n".join(json.dumps(p, ensure_ascii=False) for p in passages), "utf-8"
    )
    return dest


@pytest.mark.parametrize("dataset", ["hotpotqa_train100", "rgb_zh"])
def test_eval_retrieve_only_on_a_benchmark_subset(
    tmp_path: Path, shared_dir: Path, real_embedder: Embedder, dataset: str
) -> None:
    folder = _subset(shared_dir / "datasets" / dataset, tmp_path / dataset, 15, 150)
    settings = Settings.from_env(store_dir=tmp_path / "kb")
    scores = {}
    for method in ("bm25", "dense", "hybrid"):
        engine = Engine(settings.with_(retrieval=method), embedder=real_embedder)
        r = run_eval(folder, engine.settings, retrieve_only=True, progress=False, engine=engine)
        engine.close()
        assert r["questions"] == 15 and r["em"] is None
        assert 0.0 <= r["recall@2"] <= r["recall@5"] <= 1.0
        assert r["hit@1"] <= r["mrr"] + 1e-9
        scores[method] = r
    # a retriever on real text does far better than chance (≈ 5/180 passages)
    assert scores["hybrid"]["recall@5"] > 0.3
    assert scores["hybrid"]["timing"]["ingested_chunks"] == 0  # the store was reused


def test_eval_with_answers_scores_em_and_f1(
    tmp_path: Path, shared_dir: Path, real_embedder: Embedder, smoke_generator
) -> None:  # type: ignore[no-untyped-def]
    folder = _subset(shared_dir / "datasets" / "hotpotqa_train100", tmp_path / "hp", 3, 30)
    engine = Engine(
        Settings.from_env(store_dir=tmp_path / "kb"),
        embedder=real_embedder,
        generator=smoke_generator,
    )
    r = run_eval(folder, engine.settings, progress=False, engine=engine)
    assert r["em"] is not None and 0.0 <= r["em"] <= r["f1"] + 1e-9 <= 1.0 + 1e-9
    assert r["timing"]["end_to_end_s_p50"] >= r["timing"]["answer_s_p50"] > 0
    # one record per question: what was ranked, what was answered, and its scores
    assert [i["question"] for i in r["items"]] == [
        json.loads(line)["question"] for line in (folder / "questions.jsonl").open()
    ]
    assert all(i["prediction"] and 0 <= i["em"] <= i["f1"] + 1e-9 for i in r["items"])
    assert r["f1"] == pytest.approx(sum(i["f1"] for i in r["items"]) / 3, abs=1e-4)
    engine.close()


def test_eval_rejects_a_malformed_dataset(tmp_path: Path) -> None:
    from rag.evaluation import DatasetError

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "corpus.jsonl").write_text('{"id": "1", "text": "x"}\nnot json\n')
    (tmp_path / "bad" / "questions.jsonl").write_text("")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl line 2"):
        run_eval(tmp_path / "bad", Settings.from_env(store_dir=tmp_path / "kb"), progress=False)
    shutil.rmtree(tmp_path / "bad")
