"""The `Extractor` seam and the small generator protocol the LLM extractor needs from above."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from graph.types import ChunkText, Extraction


class Extractor(Protocol):
    @property
    def name(self) -> str: ...

    def extract(self, chunks: Sequence[ChunkText]) -> list[Extraction]:
        """One Extraction per chunk, in the same order."""
        ...


class TextGenerator(Protocol):
    """What graph code needs of a generator (rag passes its real one in)."""

    def stream(
        self,
        messages: list[Any],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]: ...
