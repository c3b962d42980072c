"""What a mode hands to generation: ranked chunks, unnumbered background notes, a trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.types import ChunkHit


@dataclass
class Context:
    hits: list[ChunkHit]
    notes: list[str] = field(default_factory=list)  # graph facts and reports, not citable
    trace: list[dict[str, Any]] = field(default_factory=list)
