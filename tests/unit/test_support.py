"""Checked citations: an invented sentence and a wrong citation are both caught."""

from __future__ import annotations

import re
from pathlib import Path

from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from rag.support import answer_sentences, check, is_refusal
from rag.types import Source
from tests.conftest import scripted_engine

_PASSAGE = re.compile(r"^\[(\d+)\] \(.*?\)\n<passage>\n(.*?)\n</passage>", re.S | re.M)


def _passages(messages: list[Message]) -> dict[int, str]:
    return {int(n): text for n, text in _PASSAGE.findall(messages[-1]["content"])}


def _wrong_then_invented(messages: list[Message]) -> str:
    passages = _passages(messages)
    good = next(n for n, t in passages.items() if "Group Relative Policy Optimization" in t)
    bad = next(n for n, t in passages.items() if "Group Relative" not in t)
    return (
        f"GRPO stands for Group Relative Policy Optimization [{bad}]. "
        f"It was first proposed by Marie Curie in Warsaw in 1898 [{good}]."
    )


def test_a_wrong_citation_is_corrected_and_an_invented_sentence_flagged(
    tmp_path: Path, demo_dir: Path
) -> None:
    gen = ScriptedGenerator(_wrong_then_invented)
    with scripted_engine(tmp_path, gen) as engine:
        engine.ingest(
            [demo_dir / "alignment_rlhf_dpo_grpo.html", demo_dir / "finetuning_overview.md"]
        )
        answer = engine.ask("What does GRPO stand for?")
    passages = _passages(gen.calls[-1])
    good = next(n for n, t in passages.items() if "Group Relative Policy Optimization" in t)
    first, second = answer.sentences
    # true, but not by the passage it cites: supported, and the citation corrected
    assert first["text"].startswith("GRPO stands for") and first["supported"]
    assert first["corrected"] == [good] and first["best"] == good
    assert second["text"].startswith("It was first proposed") and not second["supported"]
    assert second["best"] is None and second["corrected"] is None
    assert answer.support == 0.5
    assert answer.to_dict()["sentences"][0]["citations"] == first["citations"]


def _src(n: int, text: str) -> Source:
    return Source(n, f"c{n}", "d", "doc.md", "doc", "", 1.0, text)


def test_a_supported_sentence_passes_and_a_refusal_is_not_checked() -> None:
    sources = [
        _src(1, "BitFit trains only the bias terms of the network."),
        _src(2, "LoRA adds adapters."),
    ]
    checks, support = check(
        "Which parameters does BitFit train?", "BitFit trains only the bias terms. [1]", sources
    )
    assert [c.supported for c in checks] == [True] and support == 1.0
    assert check("Q?", "I don't know: the documents do not say.", sources) == ([], None)
    assert is_refusal("我不知道。") and not is_refusal("I know that BitFit…")


def test_a_citation_after_the_full_stop_stays_with_its_sentence() -> None:
    assert answer_sentences("Alpha is beta. [1] Gamma is delta [2].") == [
        "Alpha is beta. [1]",
        "Gamma is delta [2].",
    ]
    assert answer_sentences("资料说 A 是 B。[1]") == ["资料说 A 是 B。 [1]"]
    # a sentence that only points at a passage is a citation for the sentence before it
    assert answer_sentences("BitFit trains the biases. This is supported by passage [2].") == [
        "BitFit trains the biases. [2]"
    ]
    assert answer_sentences("BitFit trains the biases. This is mentioned in [1].") == [
        "BitFit trains the biases. [1]"
    ]


def test_an_answer_no_passage_supports_is_withheld(tmp_path: Path, demo_dir: Path) -> None:
    guess = "Habana Labs, a subsidiary bought in Haifa, manufactures it [1]."
    with scripted_engine(tmp_path, ScriptedGenerator(guess)) as e:
        e.ingest([demo_dir / "alignment_rlhf_dpo_grpo.html"])
        answer = e.ask("Which company manufactures the Gaudi 3 accelerator?")
    assert answer.answer.startswith("I don't know") and answer.cited == []
    assert answer.support == 0.0 and answer.sentences[0]["text"] == guess
    assert {"step": "withheld", "reason": "no passage supports the answer", "answer": guess} in (
        answer.trace
    )


def test_a_global_answer_drawn_from_the_reports_is_not_withheld() -> None:
    from rag.answering import _in_notes

    reports = ["[Fine-tuning and serving] LoRA fine-tuning, and serving with vLLM and llama.cpp."]
    question = "What are the main themes of these notes?"
    assert _in_notes(question, "The main themes are fine-tuning and serving [1].", reports)
    assert not _in_notes(question, "The main theme is Marie Curie's radium [1].", reports)
    assert not _in_notes(question, "The main themes are fine-tuning and serving [1].", [])
