"""The `store` fixture shared by the store contract tests: every `Store` implementation, one param each.

A cluster backend (PostgreSQL + Milvus) joins the params and the contract tests pass unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.embedding import HashingEmbedder
from ingest.ports import Store
from ingest.store import EmbeddedStore
from ingest.store.memory import MemoryStore

EMB = HashingEmbedder(64)


@pytest.fixture(params=["embedded", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = (
        EmbeddedStore(tmp_path / "kb", embedder_name=EMB.name, dim=EMB.dim)
        if request.param == "embedded"
        else MemoryStore()
    )
    yield s
    s.close()
