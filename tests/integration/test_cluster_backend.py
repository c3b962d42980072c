"""The cluster backend end to end: RAG_BACKEND=cluster ingests and answers through the same
Engine, its Milvus index is reconciled from PostgreSQL after a write dies half-way, and it
finds what the embedded store finds. Needs the servers of scripts/services.sh (CI starts them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.embedding import HashingEmbedder
from ingest.errors import StoreNotFound
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings


@pytest.fixture
def cluster_settings(
    tmp_path: Path, pg_url: str, milvus_uri: str, cluster_name: str
) -> Iterator[Settings]:
    from ingest.cluster.store import ClusterTarget, drop

    settings = Settings.from_env(
        {"HOME": str(tmp_path / "home"), "RAG_BACKEND": "cluster", "RAG_POSTGRES_URL": pg_url,
         "RAG_MILVUS_URI": milvus_uri, "RAG_CLUSTER_NAME": cluster_name},
        store_dir=tmp_path / "store", embedder="hashing", graph="off",
    )  # fmt: skip
    yield settings
    drop(ClusterTarget(pg_url, milvus_uri, cluster_name))


def _engine(settings: Settings) -> Engine:
    gen = ScriptedGenerator("The answer is in the first passage [1].")
    return Engine(settings, embedder=HashingEmbedder(), generator=gen)


def test_the_switch_comes_from_the_environment(cluster_settings: Settings) -> None:
    assert cluster_settings.backend == "cluster"
    with _engine(cluster_settings) as engine:
        assert cluster_settings.cluster_name in engine.location
        assert ":rag@" not in engine.location  # the password stays out of messages
        with pytest.raises(StoreNotFound):
            engine.store.chunks.counts()  # nothing ingested yet: a clear error, nothing created


def test_ingest_ask_delete_on_the_cluster_backend(
    cluster_settings: Settings, demo_dir: Path
) -> None:
    with _engine(cluster_settings) as engine:
        report = engine.ingest([demo_dir])
        assert report.failed == [] and report.count("added") == 10
        assert engine.ingest([demo_dir]).count("unchanged") == 10  # unchanged content: no-op
        answer = engine.ask("What is QLoRA?")
        assert answer.sources and answer.cited == [1]
        hits = engine.retrieve("QLoRA 4-bit quantization", k=5)
        assert len(hits) == 5
        doc = hits[0].document
        engine.delete(doc.id)
        assert all(h.document.id != doc.id for h in engine.retrieve("QLoRA 4-bit", k=20))
        assert all(h.document.id != doc.id for h in engine.retrieve("QLoRA", k=20, method="bm25"))
        assert engine.store.chunks.counts().documents == 9


def test_the_same_top_5_as_the_embedded_store(
    cluster_settings: Settings, settings: Settings, demo_dir: Path, demo_questions: list[dict]
) -> None:
    with _engine(cluster_settings) as cluster, _engine(settings) as embedded:
        cluster.ingest([demo_dir])
        embedded.ingest([demo_dir])
        overlap: dict[str, list[int]] = {"dense": [], "hybrid": [], "bm25": []}
        for q in demo_questions:
            question = str(q["question"])
            for method, shared in overlap.items():
                ours = [h.chunk.id for h in cluster.retrieve(question, k=5, method=method)]
                theirs = [h.chunk.id for h in embedded.retrieve(question, k=5, method=method)]
                if method == "dense":
                    assert ours == theirs, question  # the same vectors, exact search both
                shared.append(len(set(ours) & set(theirs)))
        # Milvus's BM25 tokenises with its own jieba analyzer (FTS5 gets ingest.keywords'
        # tokens), so keyword rankings differ in places: most of the top 5 still agree
        mean = {m: sum(v) / len(v) for m, v in overlap.items()}

        assert mean["bm25"] >= 3 and mean["hybrid"] >= 4, mean  # measured: 3.4 and 4.6


def test_a_write_that_dies_before_milvus_is_finished_by_the_next_writer(
    cluster_settings: Settings, demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.cluster.store import ClusterStore

    calls = []
    apply = ClusterStore.apply_outbox

    def killed(self: ClusterStore) -> int:
        calls.append(1)
        if len(calls) > 1:  # the first runs as the write starts, the second after its commit
            raise KeyboardInterrupt("killed between the PostgreSQL commit and Milvus")
        return apply(self)

    with _engine(cluster_settings) as engine, monkeypatch.context() as m:
        m.setattr(ClusterStore, "apply_outbox", killed)
        with pytest.raises(KeyboardInterrupt):
            engine.ingest([demo_dir / next(p.name for p in sorted(demo_dir.glob("*.md")))])
    with _engine(cluster_settings) as engine:
        store = engine.store
        assert isinstance(store, ClusterStore)
        assert (
            store.pending() > 0 and store.chunks.counts().documents == 1
        )  # on record, not indexed
        assert engine.retrieve("the", k=5, method="dense") == []
        engine.ingest([demo_dir])  # the next write applies the outbox first
        assert store.pending() == 0 and store.index_gap() == (0, 0, 0)
        assert len(engine.retrieve("QLoRA", k=5, method="dense")) == 5


def test_doctor_repairs_a_lost_milvus_index(cluster_settings: Settings, demo_dir: Path) -> None:
    from ingest.cluster.store import ClusterStore

    with _engine(cluster_settings) as engine:
        engine.ingest([demo_dir])
        store = engine.store
        assert isinstance(store, ClusterStore)
        n = store.chunks.counts().chunks
        gone = sorted(store.milvus.pks())[:7]
        store.milvus.delete(gone)
        assert store.index_gap() == (7, 0, 0)
        assert store.reindex() == (7, 0)
        assert store.index_gap() == (0, 0, 0) and len(list(store.milvus.pks())) == n


def test_the_graph_lives_in_postgresql_too(cluster_settings: Settings, demo_dir: Path) -> None:
    from graph.postgres_store import PostgresGraphStore

    with _engine(cluster_settings.with_(graph="fast")) as engine:
        report = engine.ingest([demo_dir])
        assert report.failed == []
        assert isinstance(engine.graph_store, PostgresGraphStore)
        assert len(engine.graph_store.doc_ids()) == 10 and engine.graph_store.entities()
        for mode in ("graph", "kag"):
            answer = engine.ask("What is QLoRA?", mode=mode)
            assert answer.sources, mode
        doc = engine.store.chunks.documents()[0]
        engine.delete(doc.id)  # the graph follows the chunks
        assert doc.id not in engine.graph_store.doc_ids()


def test_rag_doctor_finds_rows_lost_from_milvus_and_repairs_them(
    cluster_settings: Settings, demo_dir: Path
) -> None:
    from ingest.cluster.store import ClusterStore
    from rag.doctor import diagnose, repair

    with _engine(cluster_settings) as engine:
        engine.ingest([demo_dir])
        assert diagnose(cluster_settings).ok
        store = engine.store
        assert isinstance(store, ClusterStore)
        store.milvus.delete(sorted(store.milvus.pks())[:5])
        report = diagnose(cluster_settings)
        assert not report.ok and report.documents == 10
        assert [(p.code, p.count) for p in report.problems] == [("milvus_missing", 5)]
        assert "Milvus" in report.problems[0].message and report.problems[0].repairable
        fixed = repair(cluster_settings)
        assert fixed.ok and fixed.found == []
        assert any("5 chunks indexed" in line for line in fixed.repaired)
        assert store.index_gap() == (0, 0, 0)
        assert diagnose(cluster_settings).ok


def test_an_ingest_applies_the_outbox_in_batches_not_per_document(
    cluster_settings: Settings, demo_dir: Path
) -> None:
    from ingest.cluster.store import ClusterStore

    with _engine(cluster_settings) as engine:
        engine.ingest([demo_dir / "lora_qlora_zh.md"])  # the knowledge base exists from here
        store = engine.store
        assert isinstance(store, ClusterStore)
        upserts: list[int] = []
        real = store.milvus.upsert

        def counted(rows: list) -> None:  # type: ignore[type-arg]
            upserts.append(len(rows))
            real(rows)

        store.milvus.upsert = counted  # type: ignore[method-assign]
        before = store.chunks.counts().chunks
        report = engine.ingest([demo_dir])
        assert report.count("added") == 9
        # one Milvus upsert per DEFER_S seconds or DEFER_ROWS chunks, and one as the ingest
        # ends: fewer than one per document (measured: 1 on the 2-core machine)
        assert 1 <= len(upserts) < 9 and sum(upserts) == store.chunks.counts().chunks - before
        assert store.pending() == 0 and store.index_gap() == (0, 0, 0)
        found = {
            h.document.name for h in engine.retrieve("LoRA GPU KV cache", k=50, method="dense")
        }
        assert len(found) == 10


def test_ray_workers_ingest_into_the_cluster_backend_as_a_serial_ingest_does(
    cluster_settings: Settings, settings: Settings, demo_dir: Path
) -> None:
    import importlib.util

    from tests.conftest import need

    need(importlib.util.find_spec("ray") is not None, "ray is not installed (the [ray] extra)")
    with _engine(cluster_settings) as cluster, _engine(settings) as embedded:
        fanned = cluster.ingest([demo_dir], workers=2)
        serial = embedded.ingest([demo_dir])
        assert [(r.source, r.status, r.doc_id, r.n_chunks) for r in fanned.results] == [
            (r.source, r.status, r.doc_id, r.n_chunks) for r in serial.results
        ]
        for doc in embedded.documents():
            ours = cluster.store.chunks.chunks_of(doc.id)
            theirs = embedded.store.chunks.chunks_of(doc.id)
            assert ours == theirs, doc.name
            hashes = {c.text_hash for c in theirs}
            a, b = cluster.store.chunks.vectors(hashes), embedded.store.chunks.vectors(hashes)
            assert all(a[h].tobytes() == b[h].tobytes() for h in hashes)


def test_a_cancelled_ingest_leaves_what_it_wrote_searchable(
    cluster_settings: Settings, demo_dir: Path
) -> None:
    """The outbox an ingest defers is applied as it stops early, not left for the next write."""
    from ingest.cluster.store import ClusterStore
    from ingest.errors import Cancelled
    from ingest.pipeline import IngestEvent

    def cancel_after_three(ev: IngestEvent) -> None:
        if ev.result is not None and ev.done >= 3:
            raise Cancelled("stopped by the user")

    with _engine(cluster_settings) as engine:
        with pytest.raises(Cancelled):
            engine.ingest([demo_dir], progress=cancel_after_three)
        store = engine.store
        assert isinstance(store, ClusterStore)
        written = store.chunks.counts().documents
        assert 3 <= written < 10
        assert store.pending() == 0 and store.index_gap() == (0, 0, 0)
        found = {h.document.id for h in engine.retrieve("LoRA GPU KV cache", k=50, method="dense")}
        assert len(found) == written
