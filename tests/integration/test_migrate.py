"""`rag migrate`: the demo corpus embedded → cluster → embedded comes back the same — documents,
chunk ids in order, vectors bit for bit, dense top 5, the graph — with nothing embedded again.
Needs the servers of scripts/services.sh (CI starts them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.embedding import HashingEmbedder
from ingest.errors import UsageError
from rag.engine import Engine
from rag.migrate import migrate
from rag.settings import Settings
from tests.unit.test_cli import rag


@pytest.fixture
def backends(
    tmp_path: Path, pg_url: str, milvus_uri: str, cluster_name: str
) -> Iterator[tuple[Settings, Settings, Settings]]:
    """(the embedded store, the cluster KB, the embedded store it is copied back into)."""
    from ingest.cluster.store import ClusterTarget, drop

    embedded = Settings.from_env(
        {"HOME": str(tmp_path / "home"), "RAG_POSTGRES_URL": pg_url,
         "RAG_MILVUS_URI": milvus_uri, "RAG_CLUSTER_NAME": cluster_name},
        store_dir=tmp_path / "store", embedder="hashing", graph="fast",
    )  # fmt: skip
    yield embedded, embedded.with_(backend="cluster"), embedded.with_(store_dir=tmp_path / "back")
    drop(ClusterTarget(pg_url, milvus_uri, cluster_name))


def _refuse(self: HashingEmbedder, texts: object) -> np.ndarray:
    raise AssertionError("a migration embedded a passage: it must copy the stored vectors")


def _dense_top5(engine: Engine, question: str) -> list[str]:
    return [h.chunk.id for h in engine.retrieve(question, k=5, method="dense")]


def _snapshot(settings: Settings, questions: list[str]) -> dict[str, object]:
    with Engine(settings, embedder=HashingEmbedder()) as engine:
        docs = engine.documents()
        chunks = {d.id: engine.chunks(d.id) for d in docs}
        hashes = {c.text_hash for cs in chunks.values() for c in cs}
        graph = engine.graph_store
        return {
            "docs": [(d, dict(d.metadata)) for d in docs],
            "chunks": {doc: [c.id for c in cs] for doc, cs in chunks.items()},
            "vectors": engine.store.chunks.vectors(hashes),
            "n_hashes": len(hashes),
            "dense": [_dense_top5(engine, q) for q in questions],
            "graph_docs": graph.doc_ids(),
            "entities": graph.entities(),
            "relations": graph.relations(),
            "communities": graph.communities(),
            "stale": graph.needs_rebuild(),
        }


def test_embedded_to_cluster_to_embedded_is_exact(
    backends: tuple[Settings, Settings, Settings],
    demo_dir: Path,
    demo_questions: list[dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedded, cluster, back = backends
    with Engine(embedded, embedder=HashingEmbedder()) as engine:
        assert engine.ingest([demo_dir], metadata={"team": "ml"}).failed == []
    monkeypatch.setattr(HashingEmbedder, "embed_passages", _refuse)  # queries still embed
    questions = [str(q["question"]) for q in demo_questions]
    seen: list[int] = []
    t0 = time.perf_counter()
    there = migrate(embedded, cluster, progress=lambda done, total, doc: seen.append(done))
    t1 = time.perf_counter()
    home = migrate(cluster, back)
    t2 = time.perf_counter()
    print(
        f"\nmigrate demo: embedded -> cluster {t1 - t0:.2f} s, cluster -> embedded {t2 - t1:.2f} s"
    )
    assert seen == list(range(1, 11))
    assert (there.documents, home.documents) == (10, 10) and there.chunks == home.chunks > 0
    assert there.graph_documents == home.graph_documents == 10 and there.entities > 0

    first, *others = (_snapshot(s, questions) for s in (embedded, cluster, back))
    assert len(first["docs"]) == 10 and first["entities"]  # type: ignore[arg-type]
    assert all(meta == {"team": "ml"} for _, meta in first["docs"])  # type: ignore[attr-defined]
    for other in others:
        assert other["docs"] == first["docs"]  # ids, ingested_at, metadata: all kept
        assert other["chunks"] == first["chunks"]  # the same chunk ids in reading order
        vecs, want = other["vectors"], first["vectors"]
        assert isinstance(vecs, dict) and isinstance(want, dict)
        assert len(vecs) == first["n_hashes"] and vecs.keys() == want.keys()
        assert all(np.array_equal(vecs[h], want[h]) for h in want)
        assert other["dense"] == first["dense"]
        for part in ("graph_docs", "entities", "relations", "communities", "stale"):
            assert other[part] == first[part], part


def test_a_target_in_use_is_refused_unless_replaced(
    backends: tuple[Settings, Settings, Settings], demo_dir: Path
) -> None:
    embedded, cluster, back = backends
    with Engine(embedded, embedder=HashingEmbedder()) as engine:
        engine.ingest([demo_dir / "finetuning_overview.md"])
    migrate(embedded, cluster)
    with pytest.raises(UsageError, match="--replace"):
        migrate(embedded, cluster)
    assert migrate(embedded, cluster, replace=True).documents == 1
    back.store_dir.mkdir()
    (back.store_dir / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds no store"):
        migrate(cluster, back, replace=True)
    assert (back.store_dir / "notes.txt").read_text() == "mine"  # never deleted


def test_rag_migrate_on_the_command_line(
    tmp_path: Path, pg_url: str, milvus_uri: str, cluster_name: str, demo_dir: Path
) -> None:
    from ingest.cluster.store import ClusterTarget, drop

    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb"), "HOME": str(tmp_path),
           "RAG_POSTGRES_URL": pg_url, "RAG_MILVUS_URI": milvus_uri,
           "RAG_CLUSTER_NAME": cluster_name}  # fmt: skip
    try:
        assert rag("ingest", str(demo_dir), env=env).returncode == 0
        out = rag("migrate", "--to", "cluster", env=env)
        assert out.returncode == 0, out.stderr
        assert "[10/10]" in out.stderr and "migrated 10 documents" in out.stderr
        docs = rag("docs", "--json", env={**env, "RAG_BACKEND": "cluster"})
        assert docs.returncode == 0 and docs.stdout.count('"source"') == 10
        again = rag("migrate", "--to", "cluster", env=env)
        assert again.returncode == 2 and "--replace" in again.stderr
        no_dir = rag("migrate", "--to", "embedded", env={**env, "RAG_BACKEND": "cluster"})
        assert no_dir.returncode == 2 and "--into" in no_dir.stderr
        home = rag("migrate", "--to", "embedded", "--into", str(tmp_path / "back"),
                   env={**env, "RAG_BACKEND": "cluster"})  # fmt: skip
        assert home.returncode == 0, home.stderr
        listed = rag("docs", "--json", "--store", str(tmp_path / "back"), env=env)
        assert listed.stdout == rag("docs", "--json", env=env).stdout
    finally:
        drop(ClusterTarget(pg_url, milvus_uri, cluster_name))
