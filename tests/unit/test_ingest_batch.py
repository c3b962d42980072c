"""Which failures cost one file and which stop the batch: a bad file is one failed line and the
rest goes on; a missing parser backend or model would fail every file the same way, so it stops
the batch with one error instead of a failed line per file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ingest.e5 import E5Embedder
from ingest.embedding import HashingEmbedder
from ingest.errors import MissingDependency, ModelNotInstalled
from ingest.pipeline import IngestConfig, Ingestor
from ingest.store import EmbeddedStore


def _files(folder: Path) -> list[Path]:
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nQLoRA quantizes the base model to NF4.\n", "utf-8")
    (folder / "b.txt").write_text("LoRA adds low-rank adapters to frozen weights.\n", "utf-8")
    (folder / "empty.txt").write_bytes(b"")
    return sorted(folder.iterdir())


def test_a_bad_file_is_one_failed_line(tmp_path: Path) -> None:
    emb = HashingEmbedder()
    store = EmbeddedStore(tmp_path / "kb", embedder_name=emb.name, dim=emb.dim)
    report = Ingestor(store, emb).ingest_paths(_files(tmp_path / "docs"))
    assert [Path(r.source).name for r in report.failed] == ["empty.txt"]
    assert report.count("added") == 2


@pytest.mark.skipif(
    importlib.util.find_spec("unstructured") is not None, reason="unstructured is installed"
)
def test_a_missing_parser_backend_fails_before_the_first_file(tmp_path: Path) -> None:
    emb = HashingEmbedder()
    store = EmbeddedStore(tmp_path / "kb", embedder_name=emb.name, dim=emb.dim)
    seen: list[object] = []
    ingestor = Ingestor(store, emb, IngestConfig(parser="unstructured"))
    with pytest.raises(MissingDependency, match=r"pip install 'rag-kg\[unstructured\]'"):
        ingestor.ingest_paths(_files(tmp_path / "docs"), progress=seen.append)
    assert seen == [] and store.chunks.documents() == []


def test_a_model_missing_mid_batch_stops_the_batch(tmp_path: Path) -> None:
    """The real E5 embedder over an empty models folder: its tokenizer is needed to chunk the
    first file, and every later file would need it too."""
    embedder = E5Embedder(tmp_path / "no-models")
    store = EmbeddedStore(tmp_path / "kb", embedder_name=embedder.name, dim=embedder.dim)
    seen: list[object] = []
    with pytest.raises(ModelNotInstalled, match="rag models install --only embedder"):
        Ingestor(store, embedder).ingest_paths(_files(tmp_path / "docs"), progress=seen.append)
    assert [e for e in seen if e.result is not None] == []  # the first file got to parsing only
    assert store.chunks.documents() == []
