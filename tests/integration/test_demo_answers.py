"""The demo corpus with the real embedder: retrieval finds each question's source, and real
GGUF models answer with citations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.embedding import Embedder
from rag.engine import Engine
from rag.generation.base import Generator
from rag.settings import Settings
from rag.types import Answer


@pytest.fixture(scope="module")
def demo_engine(e5_demo_store: Path, real_embedder: Embedder) -> Iterator[Engine]:
    engine = Engine(Settings.from_env(store_dir=e5_demo_store), embedder=real_embedder)
    yield engine
    engine.close()


def _answerable(questions: list[dict[str, object]]) -> list[dict[str, object]]:
    return [q for q in questions if q["source"]]


def test_hybrid_finds_the_source_of_most_questions(
    demo_engine: Engine, demo_questions: list[dict[str, object]]
) -> None:
    found = []
    for q in _answerable(demo_questions):
        hits = demo_engine.retrieve(str(q["question"]), k=5)
        found.append(any(Path(h.document.source).name == q["source"] for h in hits))
    assert sum(found) >= len(found) - 1, found


def test_pdf_answers_cite_the_right_page(demo_engine: Engine) -> None:
    hits = demo_engine.retrieve("KV cache size for one 4096-token sequence of a 7B model", k=3)
    pdf = [h for h in hits if h.document.format == "pdf"]
    assert pdf and pdf[0].location.startswith("page 2")


def test_filters_restrict_retrieval(demo_engine: Engine) -> None:
    from ingest.types import SearchFilter

    hits = demo_engine.retrieve("QLoRA", k=5, filters=SearchFilter(path_glob="*.pptx"))
    assert hits and {h.document.format for h in hits} == {"pptx"}


def test_a_follow_up_retrieves_for_the_conversation(demo_engine: Engine) -> None:
    """A follow-up, "Why does that fit on one GPU?" after "What is QLoRA?": alone, no passage
    of the top five mentions QLoRA; retrieved for the conversation (rag.conversation), the
    best ones do.
    ("And how much memory does it need?" would prove nothing: alone, it already finds the
    PDF's page about QLoRA's memory.)"""
    from rag.conversation import last_user_message, retrieval_question
    from rag.generation.base import Message

    messages: list[Message] = [
        {"role": "user", "content": "What is QLoRA?"},
        {"role": "assistant", "content": "QLoRA trains LoRA adapters on a 4-bit base [1]."},
        {"role": "user", "content": "Why does that fit on one GPU?"},
    ]

    def mentions_qlora(question: str) -> list[bool]:
        return ["qlora" in h.chunk.text.lower() for h in demo_engine.retrieve(question, k=5)]

    assert not any(mentions_qlora(last_user_message(messages)))
    in_chat = mentions_qlora(retrieval_question(messages))
    assert in_chat[:2] == [True, True], in_chat


def _ask(engine: Engine, gen: Generator, question: str) -> Answer:
    """Ask over the module's store with the given generator."""
    with_gen = Engine(engine.settings, embedder=engine.embedder, generator=gen)
    try:
        return with_gen.ask(question, k=3)
    finally:
        with_gen.close()


def test_smoke_model_answers_with_sources(demo_engine: Engine, smoke_generator: Generator) -> None:
    answer = _ask(demo_engine, smoke_generator, "What does GRPO stand for?")
    assert answer.answer.strip()
    assert any("alignment_rlhf" in s.document for s in answer.sources)
    assert answer.timings["total_s"] >= answer.timings["first_token_s"] > 0


def test_default_model_answers_in_chinese_with_citations(
    demo_engine: Engine, default_generator: Generator
) -> None:
    answer = _ask(
        demo_engine, default_generator, "什么是 QLoRA？它把冻结的基座模型量化成什么格式？"
    )
    assert answer.language == "zh"
    assert "NF4" in answer.answer or "4-bit" in answer.answer or "4 bit" in answer.answer
    assert answer.cited, answer.answer
    assert any("lora_qlora_zh" in s.document for s in answer.cited_sources)
    assert sum(ch >= "\u4e00" for ch in answer.answer) > 10  # answered in Chinese


def test_default_model_says_it_does_not_know(
    demo_engine: Engine, default_generator: Generator
) -> None:
    answer = _ask(demo_engine, default_generator, "Who makes the Gaudi 3 accelerator?")
    assert "don't know" in answer.answer.lower(), answer.answer
    assert "Intel" not in answer.answer


@pytest.mark.parametrize(
    ("mode", "strategy"), [("graph", "hybrid"), ("graph", "local"), ("kag", None)]
)
def test_graph_and_kag_modes_with_a_real_model(
    demo_engine: Engine, smoke_generator: Generator, mode: str, strategy: str | None
) -> None:
    with Engine(
        demo_engine.settings, embedder=demo_engine.embedder, generator=smoke_generator
    ) as e:
        answer = e.ask("What does GRPO stand for?", mode=mode, strategy=strategy, k=3)
    assert answer.mode == mode and answer.answer.strip() and answer.sources
    first = answer.trace[0]["step"]
    assert first == "match_entities" if mode == "graph" else first in ("plan", "fallback")
