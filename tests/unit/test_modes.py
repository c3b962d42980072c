"""Graph RAG and KAG over the demo corpus with scripted generators (deterministic)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.embedding import HashingEmbedder
from ingest.types import SearchFilter
from rag.engine import Engine
from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from rag.modes.kag import execute
from rag.modes.kag_ops import OpError, compare, compute, count
from rag.modes.kag_plan import Plan, PlanError, parse_plan
from rag.settings import Settings


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    store = tmp_path_factory.mktemp("modes") / "kb"
    with _engine(store, ScriptedGenerator("unused")) as engine:
        engine.ingest([demo_dir])
    return store


def _engine(store: Path, gen: ScriptedGenerator) -> Engine:
    # translation off: the scripts here are the modes' own calls (test_crosslingual.py); the
    # scripted answers are not drawn from the passages, so they are shown, not withheld
    settings = Settings.from_env(
        {"HOME": str(store.parent)}, store_dir=store, embedder="hashing", translate_queries="off",
        unsupported_answers="show",
    )  # fmt: skip
    return Engine(settings, embedder=HashingEmbedder(), generator=gen)


@pytest.fixture
def engine_with(demo_store: Path) -> Iterator[object]:
    opened: list[Engine] = []

    def make(*replies: str) -> Engine:
        engine = _engine(demo_store, ScriptedGenerator(*replies))
        opened.append(engine)
        return engine

    yield make
    for e in opened:
        e.close()


def _quote_first_passage(messages: list[Message]) -> str:
    return "Answer from [1]."


@pytest.mark.parametrize("strategy", ["local", "ppr", "hybrid"])
def test_graph_strategies_answer_with_citations_and_trace(engine_with, strategy: str) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(_quote_first_passage)
    answer = engine.ask("What does GRPO stand for?", mode="graph", strategy=strategy, k=4)
    assert answer.mode == "graph" and answer.cited == [1]
    assert any("alignment_rlhf" in s.document for s in answer.sources)
    steps = [t["step"] for t in answer.trace]
    assert steps[0] == "match_entities"
    assert any(e["name"] == "GRPO" for e in answer.trace[0]["entities"])
    prompt = engine.generator.calls[-1][1]["content"]  # type: ignore[attr-defined]
    assert "Graph facts" in prompt  # relations of the matched entities are in the prompt


def test_global_rates_reports_and_answers_from_the_best(engine_with) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with('{"score": 8}', '{"score": 2}', '{"score": 5}', '{"score": 1}',
                         '{"score": 0}', '{"score": 3}', "The main themes are fine-tuning and serving [1].")  # fmt: skip
    assert len({c.level for c in engine.graph().communities}) >= 2
    answer = engine.ask("What are the main themes of these notes?", mode="graph", strategy="global")
    mapped = next(t for t in answer.trace if t["step"] == "global_map")
    assert len(mapped["reports"]) == 6
    scores = [r["score"] for r in mapped["reports"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 8  # rating + similarity
    assert answer.sources and answer.answer.endswith("[1].")


def test_kag_executes_a_hand_written_plan_exactly(engine_with) -> None:  # type: ignore[no-untyped-def]
    # the generator answers the two lookups; count, compare and compute are Python's
    engine = engine_with("16 bytes", "2 GiB")
    plan = Plan.model_validate({"steps": [
        {"op": "retrieve", "question": "How many bytes per parameter does mixed-precision Adam need?"},
        {"op": "retrieve", "question": "How much KV cache does one 4096-token sequence need?"},
        {"op": "compare", "inputs": [1, 2], "expression": "max"},
        {"op": "compute", "inputs": [1, 2], "expression": "#1 * 1000 + #2"},
        {"op": "follow", "entity": "GRPO"},
        {"op": "count", "inputs": [5]},
    ]})  # fmt: skip
    ctx = execute(engine.services, plan, None)
    results = [t["result"] for t in ctx.trace[1:]]
    assert results[:4] == ["16 bytes", "2 GiB", "16 bytes", "16002"]
    assert results[5] == str(len(results[4].split(", ")))
    assert [t["from"] for t in ctx.trace[3:5]] == ["python", "python"]
    assert ctx.trace[5]["from"].startswith("graph: relations of GRPO")
    assert ctx.hits and any("gpu_memory" in h.document.source for h in ctx.hits)
    assert any(n.startswith("Step 4 (compute) → 16002") for n in ctx.notes)


def test_kag_records_a_division_by_zero_as_a_failed_step(engine_with) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with("16 bytes", "0 bytes")
    plan = Plan.model_validate({"steps": [
        {"op": "retrieve", "question": "How many bytes per parameter does Adam need?"},
        {"op": "retrieve", "question": "How many bytes does a frozen weight's gradient need?"},
        {"op": "compute", "inputs": [1, 2], "expression": "#1 / #2"},
        {"op": "compute", "inputs": [1], "expression": "#1 * 2"},
    ]})  # fmt: skip
    ctx = execute(engine.services, plan, None)
    assert ctx.trace[3]["result"] == "(step failed: division by zero)"
    assert ctx.trace[3]["from"] == "error"
    assert ctx.trace[4]["result"] == "32"  # the plan goes on after the failed step


def test_kag_follow_keeps_to_the_search_filter(engine_with) -> None:  # type: ignore[no-untyped-def]
    plan = Plan.model_validate({"steps": [{"op": "follow", "entity": "GRPO"}]})
    unfiltered = execute(engine_with().services, plan, None)
    assert any("alignment_rlhf" not in h.document.source for h in unfiltered.hits)
    only = execute(engine_with().services, plan, SearchFilter(path_glob="*alignment_rlhf*"))
    assert only.hits and all("alignment_rlhf" in h.document.source for h in only.hits)
    assert only.trace[1]["result"] != unfiltered.trace[1]["result"]
    # the fine-tuning overview never mentions GRPO: no relation, no passage
    none = execute(engine_with().services, plan, SearchFilter(path_glob="*finetuning_overview*"))
    assert none.hits == [] and none.trace[1]["result"] == ""


def test_kag_answers_from_the_steps_and_the_whole_questions_passages(engine_with) -> None:  # type: ignore[no-untyped-def]
    # a plan whose only step looks elsewhere: the question's own passages still reach the answer
    plan = {
        "steps": [
            {"op": "retrieve", "question": "How much KV cache does one 4096-token sequence need?"}
        ]
    }
    engine = engine_with(
        json.dumps(plan), "2 GiB", "GRPO is Group Relative Policy Optimization [1]."
    )
    answer = engine.ask("What does GRPO stand for?", mode="kag", k=3)
    step = next(t for t in answer.trace if t["step"] == 1)
    direct = next(t for t in answer.trace if t["step"] == "question_passages")
    assert step["chunks"] and direct["chunks"] and not set(step["chunks"]) & set(direct["chunks"])
    used = [s.chunk_id for s in answer.sources]
    assert set(used[:2]) == {step["chunks"][0], direct["chunks"][0]}  # interleaved
    assert len(used) == 3 and any("alignment_rlhf" in s.document for s in answer.sources)


def test_kag_falls_back_to_ircot_on_an_invalid_plan(engine_with) -> None:  # type: ignore[no-untyped-def]
    ircot_step = json.dumps(
        {"thought": "GRPO is Group Relative Policy Optimization.", "next_query": "", "done": True}
    )
    engine = engine_with(
        "this is not a plan", ircot_step, "GRPO means Group Relative Policy Optimization [1]."
    )
    answer = engine.ask("What does GRPO stand for?", mode="kag")
    assert answer.trace[0]["step"] == "fallback" and answer.trace[0]["strategy"] == "ircot"
    assert "plan is not valid" in answer.trace[0]["reason"]
    assert answer.trace[1]["thought"].startswith("GRPO is")
    assert answer.sources and answer.cited == [1]


def test_kag_plan_validation() -> None:
    with pytest.raises(PlanError, match=r"does not come before"):
        parse_plan(
            json.dumps(
                {"steps": [{"op": "count", "inputs": [2]}, {"op": "retrieve", "question": "x"}]}
            )
        )
    with pytest.raises(PlanError, match="no question"):
        parse_plan(json.dumps({"steps": [{"op": "retrieve"}]}))
    with pytest.raises(PlanError, match="not valid JSON"):
        parse_plan('{"steps": [{"op": "teleport"}]}')
    assert len(parse_plan(json.dumps({"steps": [{"op": "retrieve", "question": "q"}]})).steps) == 1
    with pytest.raises(PlanError, match="no earlier step"):
        parse_plan(json.dumps({"steps": [{"op": "count"}]}))
    # a step that works on earlier results but names none uses the step before it
    plan = parse_plan(json.dumps({"steps": [{"op": "retrieve", "question": "q"}, {"op": "count"}]}))
    assert plan.steps[1].inputs == [1]


def test_kag_python_ops() -> None:
    assert count(["LoRA, QLoRA and DoRA", "AdaLoRA"]) == 4
    assert compare("min", ["7B parameters", "1.5B parameters"]) == "1.5B parameters"
    assert compare("greater", ["65", "48"]) == "yes"
    assert compute("(#1 - #2) / 2", ["10 GB", "4 GB"]) == 3.0
    with pytest.raises(OpError):
        compute("__import__('os')", [])
    with pytest.raises(OpError):
        compute("#3 + 1", ["1"])
