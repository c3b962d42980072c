"""The answer loop: a mode's context → a prompt → streamed tokens → an Answer with citations.

Separate from the Engine so every surface (CLI, web, OpenAI-compatible endpoint, MCP) streams
the same events, and separate from the modes, which only decide what goes into the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from ingest.embedding import Embedder
from rag.answer_guard import Guard
from rag.compression import compress
from rag.generation.base import Generator, Message
from rag.modes.base import Context
from rag.prompting import UNKNOWN, build_messages, detect_language, parse_citations
from rag.support import check, unsupported
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
    embedder: Embedder | None = None,
    compress_to: int = 0,
    vectors: Callable[[list[str]], Mapping[str, np.ndarray]] | None = None,
    withhold: bool = True,
) -> Iterator[AnswerEvent]:
    """Yield Retrieved(sources in the prompt), Token…, then Done(answer).

    `started` is when the question arrived (perf_counter), so the timings include retrieval;
    `history` is a chat's earlier turns (rag.prompting.build_messages); with no passages the
    answer is "I don't know" and the model is not loaded at all.

    The tokens pass through `rag.answer_guard` (no bare citations: asked again over the best
    passage; loops cut). The finished answer is checked sentence by sentence (`rag.support`,
    with `embedder` and the passages' stored `vectors`), and withheld as "I don't know" when
    no passage supports it (`withhold`): the Answer's text is then not the streamed one, and
    the trace says so. `compress_to` > 0 cuts the passages to that many tokens (`rag.compression`)."""
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
    trace = list(ctx.trace)
    shown = sources
    if embedder is not None and compress_to > 0:
        shown = compress(question, sources, embedder, gen.count_tokens, compress_to)
    t_compressed = time.perf_counter()
    messages, in_prompt = build_messages(
        question, shown, gen, max_tokens, brief, ctx.notes, history
    )
    used = [sources[s.n - 1] for s in in_prompt]  # the whole passages, as retrieved
    timings["compression_s"] = t_compressed - t_retrieved
    prompt_tokens = sum(gen.count_tokens(m["content"]) for m in messages)
    yield Retrieved(used)
    first: float | None = None
    guard = Guard(brief)  # the attempt that gave the answer
    attempts = [messages]
    for attempt, msgs in enumerate(attempts):
        guard = Guard(brief)
        stream = gen.stream(msgs, max_tokens=max_tokens, temperature=temperature)
        try:
            for piece in stream:
                shown_now = guard.feed(piece)
                if shown_now:
                    first = first or time.perf_counter()
                    yield Token(shown_now)
                if guard.stopped:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if guard.stopped:
            trace.append({"step": "repetition", "cut_at": len(guard.text)})
        if not guard.bare:
            break
        if attempt == 0:
            # only citation markers: ask again for the short answer, over the best passage alone
            trace.append({"step": "retry", "reason": "answer was only citation markers"})
            attempts.append(build_messages(question, shown[:1], gen, max_tokens, brief=True)[0])
    if guard.bare:
        guard.text = UNKNOWN[lang]
        first = first or time.perf_counter()
        yield Token(guard.text)
    else:
        tail = guard.finish()
        if tail:
            yield Token(tail)
    end = time.perf_counter()
    text = guard.text.strip()
    timings.update(
        first_token_s=(first or end) - t0, generation_s=end - t_retrieved, total_s=end - t0
    )
    hashes = [ctx.hits[s.n - 1].chunk.text_hash for s in used]
    stored = vectors(hashes) if vectors else {}
    passage_vecs = [stored.get(h) for h in hashes]
    checks, support = check(question, text, used, embedder, passage_vecs)
    if withhold and unsupported(checks, used) and not _in_notes(question, text, ctx.notes):
        # every sentence is unsupported by the passages: most often a guess at a question the
        # documents do not answer (docs/benchmarks.md); the guess stays in the trace
        trace.append({"step": "withheld", "reason": "no passage supports the answer",
                      "answer": text})  # fmt: skip
        text = UNKNOWN[lang]
    cited = parse_citations(text, {s.n for s in used})
    timings["check_s"] = time.perf_counter() - end
    sentences = [c.to_dict() for c in checks]
    answer = Answer(question, text, mode, lang, used, cited, timings, trace, prompt_tokens,
                    sentences, support)  # fmt: skip
    yield Done(answer)


def _in_notes(question: str, answer: str, notes: list[str]) -> bool:
    """Whether the graph's notes (facts, community reports) support a sentence of the answer:
    a global answer is drawn from reports as much as from passages, and is not withheld."""
    if not notes:
        return False
    checks, _ = check(question, answer, [Source(0, "", "", "", "notes", "", 0.0, "\n".join(notes))])
    return any(c.supported for c in checks)
