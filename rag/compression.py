"""Context compression: keep the sentences of each retrieved passage that bear on the question.

The prompt's passages are most of its tokens, and the local model reads every one of them
before it writes a word (prefill), so they set the time to the first token. Each passage is
split into sentences (`ingest.sentences`); every sentence is scored by its cosine to the
question (the embedder is multilingual, so a Chinese question scores English sentences);
the best sentences across all passages are kept, each with the sentence after it (a table
row's value, a definition's second half), until `budget` tokens of passage text are spent.
Each passage keeps its best sentence whatever the budget, so no retrieved passage silently
disappears from the prompt; kept sentences stay in document order and a gap between them
is marked "…".

Scoring every sentence of five passages is a bulk embedding: with e5 it loads the torch
runtime (about 1 GB more memory), which is one more reason the budget is off by default.

The sources' numbers do not change: `[2]` in the answer still names the second retrieved
passage, whose full text the answer's sources carry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ingest.embedding import Embedder
from ingest.sentences import split_sentences
from rag.types import Source

GAP = "…"
FOLLOW = 1
"""Sentences kept after each chosen one: the answer often sits in the next line."""


def compress(
    question: str,
    sources: Sequence[Source],
    embedder: Embedder,
    count_tokens: Callable[[str], int],
    budget: int,
) -> list[Source]:
    """The sources with their text cut to the sentences that bear on the question.

    `budget` is the tokens of passage text to keep in all (0: no compression). A passage that
    already fits whole in its share is left as it is."""
    if budget <= 0 or not sources:
        return list(sources)
    units = [split_sentences(s.text) or [s.text] for s in sources]
    total = sum(count_tokens(s.text) for s in sources)
    if total <= budget:
        return list(sources)
    flat = [(i, j) for i, us in enumerate(units) for j in range(len(us))]
    vecs = embedder.embed_passages([units[i][j] for i, j in flat])
    q = embedder.embed_query(question)
    score = np.asarray(vecs @ q, dtype=np.float64)
    cost = {(i, j): count_tokens(units[i][j]) for i, j in flat}
    keep: list[set[int]] = [set() for _ in sources]
    spent = 0

    def take(i: int, j: int) -> None:
        nonlocal spent
        for jj in range(j, min(j + FOLLOW + 1, len(units[i]))):
            if jj not in keep[i]:
                keep[i].add(jj)
                spent += cost[(i, jj)]

    order = sorted(range(len(flat)), key=lambda x: (-score[x], x))
    best: dict[int, int] = {}
    for x in order:  # every passage keeps its best sentence
        best.setdefault(flat[x][0], x)
    for i in range(len(sources)):
        take(*flat[best[i]])
    for x in order:
        i, j = flat[x]
        if spent >= budget:
            break
        if j not in keep[i]:
            take(i, j)
    return [
        replace(s, text=_join(units[i], keep[i])) if len(keep[i]) < len(units[i]) else s
        for i, s in enumerate(sources)
    ]


def _join(units: list[str], kept: set[int]) -> str:
    """The kept sentences in document order, "…" where sentences were dropped."""
    out: list[str] = []
    last = -1
    for j in sorted(kept):
        if j != last + 1:
            out.append(GAP)
        out.append(units[j])
        last = j
    if last < len(units) - 1:
        out.append(GAP)
    return " ".join(out)
