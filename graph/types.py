"""Plain dataclasses of the knowledge graph: what extraction emits and what the graph holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChunkText:
    """The part of a chunk extraction needs."""

    chunk_id: str
    doc_id: str
    text: str


@dataclass(frozen=True, slots=True)
class EntityMention:
    name: str
    type: str = "concept"
    description: str = ""


@dataclass(frozen=True, slots=True)
class RelationMention:
    source: str
    target: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    strength: float = 1.0


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one extractor found in one chunk."""

    chunk_id: str
    entities: list[EntityMention] = field(default_factory=list)
    relations: list[RelationMention] = field(default_factory=list)
    extractor: str = "fast"


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    name: str
    type: str
    description: str
    aliases: tuple[str, ...]
    chunk_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Relation:
    id: str
    source: str  # entity id
    target: str  # entity id
    description: str
    keywords: tuple[str, ...]
    weight: float
    chunk_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Community:
    id: str
    level: int
    entity_ids: tuple[str, ...]
    title: str
    summary: str
    parent: str | None = None


class RelationTable(Protocol):
    """Relations that can be counted and walked, any number of times, in the same order: a
    list, or a table too large for memory read from disk one relation at a time."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Relation]: ...
