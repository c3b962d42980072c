"""The `store` fixture shared by the store contract tests: every `Store` implementation, one param each.

The cluster backend (PostgreSQL + Milvus, `ingest.cluster`) is the third param: the servers
that scripts/services.sh starts, a fresh knowledge base per test, dropped after it.
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


@pytest.fixture(params=["embedded", "memory", "cluster"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "cluster":
        from ingest.cluster.store import ClusterStore, ClusterTarget, drop

        target = ClusterTarget(
            request.getfixturevalue("pg_url"),
            request.getfixturevalue("milvus_uri"),
            request.getfixturevalue("cluster_name"),
        )
        cluster = ClusterStore(target, embedder_name=EMB.name, dim=EMB.dim)
        yield cluster
        cluster.close()
        drop(target)
        return
    s: Store = (
        EmbeddedStore(tmp_path / "kb", embedder_name=EMB.name, dim=EMB.dim)
        if request.param == "embedded"
        else MemoryStore()
    )
    yield s
    s.close()
