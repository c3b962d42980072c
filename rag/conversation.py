"""A multi-turn chat as a question to retrieve for and a history to answer after.

A chat front-end sends the whole conversation on every turn, and a follow-up ("Why does that fit
on one GPU?" after "What is QLoRA?") names its topic only in an earlier turn. Measured on the
demo corpus with e5 (hybrid, k=5): that follow-up alone retrieves no passage that mentions
QLoRA; with the earlier question after it, the top two passages are QLoRA's. So retrieval reads
the last user message first, then the user's earlier messages, most recent first, within a
bound; the assistant's answers are left out (long, and their `[n]` point at old sources).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.generation.base import Message
from rag.prompting import CITATION

_CITED = re.compile(r"[ \t]*" + CITATION.pattern)  # a marker and the space before it

# Earlier user turns add at most this many characters to the retrieval question: enough for
# two or three questions, while the last one keeps most of the embedder's 512-token window.
EARLIER_TURNS_CHARS = 400
# The answer prompt keeps at most this many earlier messages (user and assistant) ...
HISTORY_MESSAGES = 6
# ... and this many characters of each, so a long earlier answer cannot crowd out passages.
HISTORY_MESSAGE_CHARS = 1200


def last_user_message(messages: Sequence[Message]) -> str:
    """The text of the last user message ("" when there is none)."""
    for m in reversed(messages):
        if m["role"] == "user":
            return m["content"].strip()
    return ""


def retrieval_question(
    messages: Sequence[Message], earlier_chars: int = EARLIER_TURNS_CHARS
) -> str:
    """The last user message, then earlier user messages (most recent first) while they fit
    in `earlier_chars`; a repeated question is not added twice."""
    users = [m["content"].strip() for m in messages if m["role"] == "user"]
    users = [u for u in users if u]
    if not users:
        return ""
    parts, left = [users[-1]], earlier_chars
    for earlier in reversed(users[:-1]):
        if earlier in parts:
            continue
        if len(earlier) > left:
            break
        parts.append(earlier)
        left -= len(earlier) + 1
    return " ".join(parts)


def prompt_history(
    messages: Sequence[Message],
    max_messages: int = HISTORY_MESSAGES,
    max_chars: int = HISTORY_MESSAGE_CHARS,
) -> list[Message]:
    """The turns before the last user message, for the answer prompt: user and assistant
    messages only (the server writes its own system rule), the most recent `max_messages`,
    each cut to `max_chars`, and citation markers taken out of earlier answers, since their
    numbers name passages this prompt does not hold."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    earlier: list[Message] = []
    for m in messages[:last] if last >= 0 else []:
        if m["role"] not in ("user", "assistant"):
            continue
        text = m["content"]
        if m["role"] == "assistant":
            text = _CITED.sub("", text)
        text = text.strip()[:max_chars]
        if text:
            earlier.append({"role": m["role"], "content": text})
    return earlier[-max_messages:] if max_messages > 0 else []
