"""A deterministic generator for tests: replies come from a script, not a model."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from rag.generation.base import Message

Reply = str | Callable[[list[Message]], str]


class ScriptedGenerator:
    """Returns scripted replies in turn (the last one repeats), streamed word by word, cut at
    `max_tokens` words.

    A reply may be a function of the messages, e.g. to quote the first context passage. Every
    call is recorded in `calls`, so tests can inspect the exact prompt.
    """

    def __init__(self, *replies: Reply, context_tokens: int = 4096) -> None:
        self._replies = list(replies) or [""]
        self._context_tokens = context_tokens
        self.calls: list[list[Message]] = []

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        self.calls.append(messages)
        reply = self._replies[min(len(self.calls) - 1, len(self._replies) - 1)]
        text = reply(messages) if callable(reply) else reply
        yield from re.findall(r"\S+\s*|\s+", text)[:max_tokens]
