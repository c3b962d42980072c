"""What a check of a store reports: one `Problem` per kind of disagreement it found.

Shared by the checks of each part (`ingest.store.doctor`, `graph.doctor`) and `rag doctor`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One kind of disagreement: how many rows or files show it, and what `--repair` does."""

    code: str
    count: int
    message: str
    repair: str = ""  # what a repair does about it; "" when only the user can (re-ingest, restore)

    @property
    def repairable(self) -> bool:
        return bool(self.repair)
