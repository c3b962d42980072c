"""Typed results the engine hands to the CLI, the web app and API callers.

`to_dict()` is the documented JSON schema of `rag ask --json` (see README).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ingest.types import ChunkHit


@dataclass(frozen=True)
class Source:
    """A numbered context passage: `[n]` in the answer refers to it."""

    n: int
    chunk_id: str
    doc_id: str
    document: str
    title: str
    location: str
    score: float
    text: str

    @classmethod
    def from_hit(cls, n: int, hit: ChunkHit) -> Source:
        return cls(
            n=n, chunk_id=hit.chunk.id, doc_id=hit.document.id, document=hit.document.source,
            title=hit.document.title, location=hit.location, score=round(hit.score, 6),
            text=hit.chunk.text,
        )  # fmt: skip


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    mode: str
    language: str
    sources: list[Source]
    cited: list[int]
    timings: dict[str, float] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0  # the prompt's size in the generator's tokens (its prefill)
    # each sentence checked against the passages (rag.support): text, citations, supported,
    # score, best, corrected; `support` is the share supported (None: a refusal, unchecked)
    sentences: list[dict[str, Any]] = field(default_factory=list)
    support: float | None = None

    @property
    def cited_sources(self) -> list[Source]:
        return [s for s in self.sources if s.n in self.cited]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Token:
    """A piece of the answer text, streamed as the model produces it."""

    text: str


@dataclass(frozen=True)
class Retrieved:
    """Retrieval finished: these sources go into the prompt."""

    sources: list[Source]


@dataclass(frozen=True)
class Done:
    answer: Answer


AnswerEvent = Retrieved | Token | Done
