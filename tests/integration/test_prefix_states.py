"""Kept prompt prefixes (rag/generation/llama.py `PrefixStates`) with a real llama.cpp model.

Two system rules take turns, as translation and answering (or KAG's planner and its step reader)
do on every question. From the third prompt of a rule on, its shared prefix is put back instead
of evaluated again, and greedy answers stay exactly what a model without kept prefixes writes.
SmolLM2 135M: a few seconds.
"""

from __future__ import annotations

from typing import Any

from rag.generation.base import complete
from rag.generation.llama import MIN_PREFIX, LlamaCppGenerator

RULE_A = "Answer the question from the passage in one short sentence. " * 4
RULE_B = "Rewrite the question as a search query of a few words. " * 4
QUESTIONS = [
    "What is LoRA?",
    "What does NF4 mean?",
    "Who wrote the vLLM paper?",
    "What is a KV cache?",
]


def _ask_all(gen: LlamaCppGenerator) -> tuple[list[str], list[int]]:
    """Each question under both rules, in turn; the replies and the tokens evaluated for each."""
    llm: Any = gen._llm
    evaluated: list[int] = []
    real_eval = llm.eval

    def counting_eval(tokens: Any) -> None:
        evaluated[-1] += len(tokens)
        real_eval(tokens)

    llm.eval = counting_eval
    replies = []
    for q in QUESTIONS:
        for rule in (RULE_A, RULE_B):
            evaluated.append(0)
            messages = [{"role": "system", "content": rule},
                        {"role": "user", "content": f"Passage: models and adapters.\n\nQuestion: {q}"}]  # fmt: skip
            replies.append(complete(gen, messages, max_tokens=12))  # type: ignore[arg-type]
    return replies, evaluated


def test_kept_prefixes_skip_the_rule_and_change_no_answer(
    smoke_generator: LlamaCppGenerator,
) -> None:
    kept = LlamaCppGenerator(smoke_generator._path, context_tokens=2048)
    plain = LlamaCppGenerator(smoke_generator._path, context_tokens=2048)
    plain.prefixes.restore = lambda llm, key: None  # type: ignore[method-assign]
    plain.prefixes.learn = lambda llm, key: None  # type: ignore[method-assign]

    kept_replies, kept_tokens = _ask_all(kept)
    plain_replies, plain_tokens = _ask_all(plain)

    assert kept_replies == plain_replies
    assert len(kept.prefixes) == 2  # one prefix per rule
    assert kept.prefixes.restored == 4  # questions 3 and 4, under both rules
    # the first two rounds evaluate the same; from the third each prompt skips its rule
    assert kept_tokens[:4] == plain_tokens[:4]
    for k, p in zip(kept_tokens[4:], plain_tokens[4:], strict=True):
        assert k <= p - MIN_PREFIX, (kept_tokens, plain_tokens)
