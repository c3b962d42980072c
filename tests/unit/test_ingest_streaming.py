"""A document written in batches (more than `stream_after` chunks) is still one write: the same
rows as one held whole, nothing of it when it fails halfway or is cancelled or killed, and an
earlier version of it whole until the new one is committed."""

from __future__ import annotations

import codecs
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.embedding import HashingEmbedder
from ingest.errors import Cancelled
from ingest.pipeline import IngestConfig, IngestEvent, Ingestor
from ingest.store import EmbeddedStore
from ingest.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
DEMO_TXT = sorted((ROOT / "corpora" / "demo").glob("*.txt"))
EMB = HashingEmbedder(64)


def _prose(path: Path, n: int, tag: str = "") -> Path:
    sentences = (
        f"Sentence {i}{tag} says that adapter {i % 97} trains rank {i % 13}." for i in range(n)
    )
    path.write_text(" ".join(sentences) + "\n", "utf-8")
    return path


def _rows(store: EmbeddedStore) -> list[tuple[object, ...]]:
    docs = store.chunks.documents()
    return [
        (d.id, d.n_chunks, c.id, c.ordinal, c.text, c.text_hash)
        for d in docs
        for c in store.chunks.chunks_of(d.id)
    ]


def _consistent(root: Path) -> tuple[int, int]:
    """Every chunk has a keyword row and a vector, every document its n_chunks chunks."""
    db = sqlite3.connect(root / "store.sqlite")
    try:
        chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        assert db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0] == chunks
        assert db.execute(
            "SELECT COUNT(*) FROM chunks c LEFT JOIN embeddings e USING(text_hash) "
            "WHERE e.vector IS NULL"
        ).fetchone() == (0,)
        assert db.execute(
            "SELECT COUNT(*) FROM documents d WHERE n_chunks != "
            "(SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)"
        ).fetchone() == (0,)
        assert db.execute(
            "SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
        ).fetchone() == (0,)
        docs = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        return docs, chunks
    finally:
        db.close()


def test_batches_write_what_one_write_would(tmp_path: Path) -> None:
    files = [*DEMO_TXT, _prose(tmp_path / "long.txt", 3000)]
    stores = []
    for name, stream_after in (("whole", 10**9), ("batched", 4)):
        store = EmbeddedStore(tmp_path / name, embedder_name=EMB.name, dim=EMB.dim)
        config = IngestConfig(stream_after=stream_after, embed_batch=16)
        report = Ingestor(store, EMB, config).ingest_paths(files)
        assert report.count("added") == len(files)
        stores.append(store)
    whole, batched = stores
    assert _rows(batched) == _rows(whole)
    assert len(_rows(whole)) > 100
    query = EMB.embed_query("adapter 42 trains rank")
    assert batched.dense.search(query, 5) == whole.dense.search(query, 5)
    assert batched.keywords.search("adapter 42", 5) == whole.keywords.search("adapter 42", 5)
    _consistent(tmp_path / "batched")


def test_the_memory_store_takes_batches_too(tmp_path: Path) -> None:
    file = _prose(tmp_path / "long.txt", 800)
    store = MemoryStore()
    Ingestor(store, EMB, IngestConfig(stream_after=4)).ingest_paths([file])
    [doc] = store.chunks.documents()
    assert doc.n_chunks == len(store.chunks.chunks_of(doc.id)) > 4


def test_a_file_found_corrupt_halfway_leaves_its_last_version_whole(tmp_path: Path) -> None:
    """UTF-16 whose last byte is missing: the decoder finds out after every chunk is made."""
    docs = tmp_path / "docs"
    docs.mkdir()
    target = docs / "notes.txt"
    body = " ".join(f"Note {i} keeps rank {i % 7}." for i in range(2000))
    target.write_bytes(codecs.BOM_UTF16_LE + body.encode("utf-16-le"))
    store = EmbeddedStore(tmp_path / "kb", embedder_name=EMB.name, dim=EMB.dim)
    config = IngestConfig(stream_after=8)
    Ingestor(store, EMB, config).ingest_paths([target])
    before = _rows(store)

    target.write_bytes(codecs.BOM_UTF16_LE + ("Changed. " + body).encode("utf-16-le")[:-1])
    _prose(docs / "other.txt", 50)
    report = Ingestor(store, EMB, config).ingest_paths([docs])
    assert [(Path(r.source).name, r.status) for r in report.results] == [
        ("notes.txt", "failed"),
        ("other.txt", "added"),
    ]
    assert "byte-order mark but is not valid utf-16" in (report.failed[0].error or "")
    notes = store.chunks.document_by_source(str(target.resolve()))
    assert notes is not None
    assert [r for r in _rows(store) if r[0] == notes.id] == before
    _consistent(tmp_path / "kb")


def test_a_cancel_mid_document_keeps_the_documents_before_it(tmp_path: Path) -> None:
    small = _prose(tmp_path / "a_small.txt", 5)
    big = _prose(tmp_path / "b_big.txt", 4000)
    store = EmbeddedStore(tmp_path / "kb", embedder_name=EMB.name, dim=EMB.dim)
    config = IngestConfig(stream_after=8, embed_batch=16)
    batches: list[str] = []

    def progress(ev: IngestEvent) -> None:
        if ev.stage == "embedding" and ev.source == str(big.resolve()):
            batches.append(ev.source)
            if len(batches) == 5:
                raise Cancelled("cancelled")

    with pytest.raises(Cancelled):
        Ingestor(store, EMB, config).ingest_paths([small, big], progress)
    assert [d.name for d in store.chunks.documents()] == ["a_small.txt"]
    assert _consistent(tmp_path / "kb") == (1, store.chunks.documents()[0].n_chunks)
    # the store is usable: the next ingest completes the big file, in more than 5 batches
    batches.clear()
    report = Ingestor(store, EMB, config).ingest_paths(
        [small, big], lambda ev: ev.stage == "embedding" and batches.append("")
    )
    assert [r.status for r in report.results] == ["unchanged", "added"]
    assert len(batches) > 5
    _consistent(tmp_path / "kb")


def test_a_process_killed_mid_document_leaves_none_of_it(tmp_path: Path) -> None:
    """kill -9 while the big document's transaction is open (its WAL growing)."""
    small = _prose(tmp_path / "a_small.txt", 5)
    big = _prose(tmp_path / "b_big.txt", 60_000)
    store = tmp_path / "kb"
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "home"),
        "RAG_EMBEDDER": "hashing", "RAG_GRAPH": "off", "RAG_STORE": str(store),
    }  # fmt: skip
    cmd = [sys.executable, "-m", "rag.cli.main", "ingest", str(small), str(big)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = store / "store.sqlite-wal"
    deadline = time.monotonic() + 120
    try:
        while not (wal.exists() and wal.stat().st_size > 2_000_000):  # well into the big file
            assert proc.poll() is None, "the ingest ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    docs, _ = _consistent(store)
    db = sqlite3.connect(store / "store.sqlite")
    names = [r[0] for r in db.execute("SELECT name FROM documents ORDER BY name")]
    db.close()
    assert docs == 1 and names == ["a_small.txt"]  # the small one committed, none of the big one
