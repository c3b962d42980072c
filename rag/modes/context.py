"""What a mode hands to generation: ranked chunks, unnumbered background notes, a trace."""

from __future__ import annotations

from collections.abc import Sequence
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


def chunk_hits(
    engine: Engine, ranked: Sequence[tuple[str, float]], k: int, flt: SearchFilter | None
) -> list[ChunkHit]:
    """The first k of `ranked` (chunk id, score) that exist and pass the filter, as hits."""
    store = engine.store
    rowids = store.rowids_of([cid for cid, _ in ranked])
    allowed = store.allowed_rowids(flt)
    scored = [
        (rowids[c], s)
        for c, s in ranked
        if c in rowids and (allowed is None or rowids[c] in allowed)
    ]
    return store.hits(scored[:k])
