"""The answer loop's guards: no bare citations, leading citations moved, loops cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer_guard import Guard, has_words, repeated_tail
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.types import Token
from tests.conftest import scripted_engine


def _feed(guard: Guard, text: str) -> str:
    shown = "".join(guard.feed(p) for p in text.split(" ") for p in (p + " ",))
    return shown + guard.finish()


def test_words_beyond_citations() -> None:
    assert not has_words("[1]") and not has_words(" [1][2] 【3】 ")
    assert not has_words("[1] 14 [1] 2")  # numbers alone are no sentence…
    assert has_words("[1] 14", brief=True)  # …but are a short answer
    assert has_words("Ring AllReduce [2]") and has_words("统一内存 [1]")


def test_a_bare_citation_is_never_shown() -> None:
    guard = Guard()
    assert _feed(guard, "[1]") == "" and guard.bare


def test_leading_citations_move_to_the_end() -> None:
    guard = Guard()
    shown = _feed(guard, "[2] The Q4_K_M type uses 4.8 bits per weight.")
    assert guard.text == "The Q4_K_M type uses 4.8 bits per weight. [2]"
    assert shown.split() == guard.text.split()


def test_a_loop_is_cut_after_its_first_copy() -> None:
    guard = Guard()
    for piece in ["Lilu", " is", " a", " demon.", *([" Lilu", " is", " a", " demon."] * 5)]:
        guard.feed(piece)
        if guard.stopped:
            break
    assert guard.stopped and guard.text == "Lilu is a demon."


@pytest.mark.parametrize(
    "text",
    ["MMLU, TruthfulQA and HellaSwag [1].", "1, 2, 3, 4, 5, 6", "| a | b | c |", "ha ha ha"],
)
def test_ordinary_text_is_no_loop(text: str) -> None:
    assert repeated_tail(text) is None


def _engine(tmp_path: Path, *replies: str) -> tuple[Engine, ScriptedGenerator]:
    gen = ScriptedGenerator(*replies)
    return scripted_engine(tmp_path, gen), gen


def test_a_bare_answer_is_asked_again_over_the_best_passage(tmp_path: Path, demo_dir: Path) -> None:
    engine, gen = _engine(tmp_path, "[1]", "Group Relative Policy Optimization [1]")
    with engine:
        engine.ingest([demo_dir / "alignment_rlhf_dpo_grpo.html"])
        events = list(engine.stream("What does GRPO stand for?"))
    answer = events[-1].answer  # type: ignore[union-attr]
    assert answer.answer == "Group Relative Policy Optimization [1]" and answer.cited == [1]
    assert "".join(e.text for e in events if isinstance(e, Token)) == answer.answer
    assert len(gen.calls) == 2 and gen.calls[1][-1]["content"].count("<passage>") == 1
    assert {"step": "retry", "reason": "answer was only citation markers"} in answer.trace


def test_bare_twice_says_it_does_not_know(tmp_path: Path, demo_dir: Path) -> None:
    engine, _ = _engine(tmp_path, "[1]", "[2][3]")
    with engine:
        engine.ingest([demo_dir / "alignment_rlhf_dpo_grpo.html"])
        answer = engine.ask("What does GRPO stand for?")
    assert answer.answer.startswith("I don't know") and answer.cited == []
