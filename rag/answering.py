"""The answer loop: a mode's context → a prompt → streamed tokens → an Answer with citations.

Separate from the Engine so every surface (CLI, web, OpenAI-compatible endpoint, MCP) streams
the same events, and separate from the modes, which only decide what goes into the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from rag.generation.base import Generator, Message
from rag.modes.base import Context
from rag.prompting import UNKNOWN, build_messages, detect_language, parse_citations
from rag.types import Answer, AnswerEvent, Done, Retrieved, Source, Token


def stream_answer(
    question: str,
    mode: str,
    ctx: Context,
    generator: Callable[[], Generator],
    *,
    max_tokens: int,
    temperature: float,
    brief: bool = False,
    started: float | None = None,
    history: Sequence[Message] = (),
) -> Iterator[AnswerEvent]:
    """Yield Retrieved(sources in the prompt), Token…, then Done(answer).

    `started` is when the question arrived (perf_counter), so the timings include retrieval;
    `history` is a chat's earlier turns (rag.prompting.build_messages); with no passages the
    answer is "I don't know" and the model is not loaded at all."""
    t0 = time.perf_counter() if started is None else started
    t_retrieved = time.perf_counter()
    lang = detect_language(question)
    sources = [Source.from_hit(i, h) for i, h in enumerate(ctx.hits, start=1)]
    timings = {"retrieval_s": t_retrieved - t0}
    if not sources:
        yield Retrieved([])
        yield Done(Answer(question, UNKNOWN[lang], mode, lang, [], [], timings, ctx.trace))
        return
    gen = generator()
    messages, used = build_messages(question, sources, gen, max_tokens, brief, ctx.notes, history)
    yield Retrieved(used)
    parts: list[str] = []
    first: float | None = None
    for piece in gen.stream(messages, max_tokens=max_tokens, temperature=temperature):
        if first is None:
            first = time.perf_counter()
        parts.append(piece)
        yield Token(piece)
    end = time.perf_counter()
    text = "".join(parts).strip()
    timings.update(
        first_token_s=(first or end) - t0, generation_s=end - t_retrieved, total_s=end - t0
    )
    cited = parse_citations(text, {s.n for s in used})
    yield Done(Answer(question, text, mode, lang, used, cited, timings, ctx.trace))
