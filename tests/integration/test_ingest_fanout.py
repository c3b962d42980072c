"""Ingestion fanned out to workers (`ingest.fanout`) leaves the store exactly as a serial ingest
does: the same documents, chunk ids, texts and vectors, the same results in input order. Run
over both fan-outs: in this process (the fake) and on a local Ray instance with two workers
(the `[ray]` extra; skipped without it, required under CI)."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.embedding import HashingEmbedder
from ingest.errors import ModelNotInstalled
from ingest.fanout import Fanout, InProcessFanout
from ingest.pipeline import IngestConfig, Ingestor, IngestReport
from ingest.store import EmbeddedStore
from tests.conftest import need

SMALL = IngestConfig(stream_after=8)  # most demo documents come back TooLarge and are streamed


class RunSensitive(HashingEmbedder):
    """A text's vector depends on the run it is embedded in, as a transformer's does (padding,
    bf16) though far more: a fan-out that embedded other runs than a serial ingest would
    store other vectors."""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return super().embed_passages(texts) + np.float32(len(texts) / 1000)


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    need(importlib.util.find_spec("ray") is not None, "ray is not installed (the [ray] extra)")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(params=["in-process", "ray"])
def make_fanout(request: pytest.FixtureRequest) -> Any:
    def make(config: IngestConfig, factory: Any = HashingEmbedder) -> Fanout:
        if request.param == "in-process":
            return InProcessFanout(factory, config)
        request.getfixturevalue("ray_session")
        from ingest.ray_fanout import RayFanout

        return RayFanout(factory, config, workers=2)

    return make


def _store(path: Path) -> EmbeddedStore:
    emb = HashingEmbedder()
    return EmbeddedStore(path, embedder_name=emb.name, dim=emb.dim)


def _ingest(
    path: Path, inputs: list[Path], config: IngestConfig, fanout: Fanout | None,
    embedder: HashingEmbedder | None = None,
) -> tuple[IngestReport, dict[str, Any]]:  # fmt: skip
    store = _store(path)
    try:
        ingestor = Ingestor(store, embedder or HashingEmbedder(), config)
        report = ingestor.ingest_paths(inputs, fanout=fanout)
        return report, _snapshot(store)
    finally:
        store.close()


def _snapshot(store: EmbeddedStore) -> dict[str, Any]:
    """Everything a serial and a fanned-out ingest must agree on (not the ingest time)."""
    docs = {}
    for d in store.chunks.documents():
        chunks = store.chunks.chunks_of(d.id)
        vectors = store.chunks.vectors(c.text_hash for c in chunks)
        docs[d.source] = {
            "doc": {**dataclasses.asdict(d), "ingested_at": None},
            "chunks": [dataclasses.asdict(c) for c in chunks],
            "vectors": {h: v.tobytes() for h, v in sorted(vectors.items())},
        }
    return docs


def _results(report: IngestReport) -> list[tuple[str, str, int]]:
    return [(Path(r.source).name, r.status, r.n_chunks) for r in report.results]


@pytest.mark.parametrize("config", [IngestConfig(), SMALL], ids=["whole", "streamed"])
def test_the_store_is_what_a_serial_ingest_leaves(
    tmp_path: Path, demo_dir: Path, make_fanout: Any, config: IngestConfig
) -> None:
    serial, expected = _ingest(tmp_path / "serial", [demo_dir], config, None, RunSensitive())
    fanout = make_fanout(config, RunSensitive)
    try:
        fanned, got = _ingest(tmp_path / "fanned", [demo_dir], config, fanout, RunSensitive())
    finally:
        fanout.close()
    assert len(expected) >= 6 and got.keys() == expected.keys()
    for source in expected:
        assert got[source] == expected[source], source
    assert _results(fanned) == _results(serial)


def test_unchanged_files_never_reach_a_worker_and_changes_replace(
    tmp_path: Path, demo_dir: Path, make_fanout: Any
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(demo_dir, docs, ignore=shutil.ignore_patterns("*.jsonl"))
    store = _store(tmp_path / "kb")
    fanout = make_fanout(IngestConfig())
    try:
        ingestor = Ingestor(store, HashingEmbedder())
        first = ingestor.ingest_paths([docs], fanout=fanout)
        submitted: list[str] = []
        real_submit = fanout.submit
        fanout.submit = lambda job: submitted.append(job.name) or real_submit(job)  # type: ignore[method-assign]
        note = next(docs.glob("*.md"))
        note.write_text(
            note.read_text("utf-8") + "\n\nA new closing paragraph about NF4.\n", "utf-8"
        )
        again = ingestor.ingest_paths([docs], fanout=fanout)
    finally:
        fanout.close()
    assert first.count("added") == len(first.results) > 5
    assert submitted == [note.name]
    assert again.count("updated") == 1 and again.count("unchanged") == len(again.results) - 1
    chunks = store.chunks.chunks_of(store.chunks.document_by_source(str(note.resolve())).id)  # type: ignore[union-attr]
    assert any("A new closing paragraph" in c.text for c in chunks)
    assert store.chunks.missing_vectors(c.text_hash for c in chunks) == set()
    store.close()


def test_a_bad_file_is_one_failed_line_and_the_rest_goes_on(
    tmp_path: Path, make_fanout: Any
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nQLoRA quantizes the base model to NF4.\n", "utf-8")
    (docs / "b.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (docs / "c.txt").write_text("LoRA adds low-rank adapters to frozen weights.\n", "utf-8")
    store = _store(tmp_path / "kb")
    fanout = make_fanout(IngestConfig())
    try:
        report = Ingestor(store, HashingEmbedder()).ingest_paths([docs], fanout=fanout)
    finally:
        fanout.close()
    assert sorted((n, s) for n, s, _ in _results(report)) == [
        ("a.md", "added"), ("b.pdf", "failed"), ("c.txt", "added"),
    ]  # fmt: skip
    assert "b.pdf" in (report.failed[0].error or "")
    assert len(store.chunks.documents()) == 2
    store.close()


class _NoModel(HashingEmbedder):
    """An embedder whose model files are missing, as a worker would find them."""

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise ModelNotInstalled("the embedder is not installed: rag models install --only embedder")


def test_a_missing_model_on_a_worker_stops_the_ingest_with_its_message(
    tmp_path: Path, demo_dir: Path, make_fanout: Any
) -> None:
    store = _store(tmp_path / "kb")
    fanout = make_fanout(IngestConfig(), _NoModel)
    try:
        with pytest.raises(ModelNotInstalled, match="rag models install --only embedder"):
            Ingestor(store, HashingEmbedder()).ingest_paths([demo_dir], fanout=fanout)
    finally:
        fanout.close()
    assert store.chunks.documents() == []
    store.close()


def test_rag_ingest_workers_2_starts_ray_and_matches_a_serial_ingest(
    tmp_path: Path, demo_dir: Path
) -> None:
    """The CLI as a user runs it: a local Ray instance is started for the ingest and stopped."""
    need(importlib.util.find_spec("ray") is not None, "ray is not installed (the [ray] extra)")
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    def rag_ingest(store: Path, *extra: str) -> dict[str, Any]:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"),
               "PYTHONPATH": str(ROOT), "RAG_EMBEDDER": "hashing", "LANG": "C.UTF-8"}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "rag.cli.main", "ingest", str(demo_dir), "--store", str(store),
             "--graph", "off", "--json", *extra],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    serial = rag_ingest(tmp_path / "serial")
    fanned = rag_ingest(tmp_path / "fanned", "--workers", "2")
    assert [r["status"] for r in fanned["results"]] == [r["status"] for r in serial["results"]]
    snapshots = []
    for name in ("serial", "fanned"):
        store = _store(tmp_path / name)
        snapshots.append(_snapshot(store))
        store.close()
    assert snapshots[0] == snapshots[1] and len(snapshots[0]) >= 6


def test_workers_below_1_is_a_usage_error(tmp_path: Path, demo_dir: Path) -> None:
    from ingest.errors import UsageError
    from rag.engine import Engine
    from rag.settings import Settings

    settings = Settings.from_env(
        {"HOME": str(tmp_path)}, store_dir=tmp_path / "kb", embedder="hashing"
    )
    with Engine(settings) as engine, pytest.raises(UsageError, match="at least 1"):
        engine.ingest([demo_dir], workers=0)
    assert not (tmp_path / "kb").exists()
