"""The `Generator` seam: chat messages in, streamed text out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypedDict

from ingest.errors import RagError


class GenerationError(RagError):
    """The model could not be loaded or the endpoint failed; 503 because the request was fine."""

    code = "generation_failed"
    http_status = 503


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


class Generator(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def context_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        """Yield the answer's text as it is produced. With `json_schema`, the output is JSON
        constrained to that schema where the backend supports it."""
        ...


def complete(
    gen: Generator,
    messages: list[Message],
    *,
    max_tokens: int,
    temperature: float = 0.0,
    json_schema: dict[str, Any] | None = None,
) -> str:
    return "".join(
        gen.stream(
            messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema
        )
    )
