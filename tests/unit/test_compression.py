"""Context compression keeps the sentences nearest the question, in order, within a budget."""

from __future__ import annotations

from ingest.embedding import HashingEmbedder
from rag.compression import GAP, compress
from rag.types import Source


def _src(n: int, text: str) -> Source:
    return Source(n, f"c{n}", "d", "doc.md", "doc", "", 1.0, text)


def _words(text: str) -> int:
    return len(text.split())


FILLER = " ".join(f"Filler sentence number {i} talks about the weather." for i in range(12))
SOURCES = [
    _src(1, f"{FILLER} BitFit trains only the bias terms. They are a tiny share. {FILLER}"),
    _src(2, "LoRA adds low-rank adapters to attention. " + FILLER),
]


def test_the_sentence_that_answers_is_kept_with_the_next_and_gaps_are_marked() -> None:
    out = compress("Which terms does BitFit train?", SOURCES, HashingEmbedder(), _words, 30)
    assert [s.n for s in out] == [1, 2]
    assert "BitFit trains only the bias terms. They are a tiny share." in out[0].text
    assert out[0].text.startswith(GAP) and out[0].text.endswith(GAP)
    assert out[1].text  # every passage keeps its best sentence
    assert sum(_words(s.text) for s in out) < sum(_words(s.text) for s in SOURCES) / 3


def test_no_budget_or_a_fitting_context_is_left_whole() -> None:
    assert compress("BitFit?", SOURCES, HashingEmbedder(), _words, 0) == SOURCES
    assert compress("BitFit?", SOURCES, HashingEmbedder(), _words, 10_000) == SOURCES
