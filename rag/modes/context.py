"""What a mode hands to generation: ranked chunks, unnumbered background notes, a trace."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.types import ChunkHit, SearchFilter

if TYPE_CHECKING:
    from rag.engine import Engine


@dataclass
class Context:
    hits: list[ChunkHit]
    notes: list[str] = field(default_factory=list)  # graph facts and reports, not citable
    trace: list[dict[str, Any]] = field(default_factory=list)


def passing(engine: Engine, chunk_ids: Iterable[str], flt: SearchFilter | None) -> dict[str, int]:
    """Chunk id → rowid for those of `chunk_ids` that exist and pass the filter."""
    store = engine.store
    allowed = store.allowed_rowids(flt)
    return {c: r for c, r in store.rowids_of(chunk_ids).items() if allowed is None or r in allowed}


def chunk_hits(
    engine: Engine, ranked: Sequence[tuple[str, float]], k: int, flt: SearchFilter | None
) -> list[ChunkHit]:
    """The first k of `ranked` (chunk id, score) that exist and pass the filter, as hits."""
    ok = passing(engine, [cid for cid, _ in ranked], flt)
    return engine.store.hits([(ok[c], s) for c, s in ranked if c in ok][:k])
