"""What only the embedded store has: a directory, a manifest, a FAISS cache file, a file lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from ingest.embedding import HashingEmbedder
from ingest.errors import EmbedderMismatch, StoreError, StoreLocked, StoreNotFound
from ingest.store import EmbeddedStore
from tests.contract.test_store import EMB, put


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    s = EmbeddedStore(tmp_path / "kb", embedder_name=EMB.name, dim=EMB.dim)
    yield s
    s.close()


def test_reopened_store_loads_the_saved_vector_cache(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    s = EmbeddedStore(root, embedder_name=EMB.name, dim=EMB.dim)
    with s.writing():
        put(s, "/a/a.txt", ["alpha beta"])
    gen = s.chunks.generation()
    s.close()
    assert [p.name for p in root.glob("vectors-*.faiss")] == [f"vectors-{gen}.faiss"]
    s2 = EmbeddedStore(root, embedder_name=EMB.name, dim=EMB.dim, create=False)
    assert len(s2.dense) == 1
    np.testing.assert_allclose(
        s2.dense.search(EMB.embed_query("alpha beta"), 1)[0][1], 1.0, atol=1e-5
    )
    s2.close()


def test_the_vector_cache_is_rebuilt_a_batch_at_a_time_and_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its cache file the index is rebuilt from SQLite a few rows at a time; it holds
    every chunk's vector under its own id, as one read would."""
    from ingest.store import faiss_dense

    root = tmp_path / "kb"
    s = EmbeddedStore(root, embedder_name=EMB.name, dim=EMB.dim)
    texts = [f"text number {i} about topic {i % 4}" for i in range(11)]
    with s.writing():
        put(s, "/a/a.txt", texts[:6])
        put(s, "/b/b.txt", texts[6:])
    s.close()
    for f in root.glob("vectors-*.faiss"):
        f.unlink()
    monkeypatch.setattr(faiss_dense, "REBUILD_BATCH", 3)  # 11 rows: four batches
    s2 = EmbeddedStore(root, embedder_name=EMB.name, dim=EMB.dim, create=False)
    assert len(s2.dense) == 11
    for text in texts:
        [hit] = s2.chunks.hits(s2.dense.search(EMB.embed_query(text), 1))
        assert hit.chunk.text == text and hit.score == pytest.approx(1, abs=1e-5)
    s2.close()


def test_a_write_by_another_process_is_seen_by_an_open_store(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    reader = EmbeddedStore(root, embedder_name=EMB.name, dim=EMB.dim)
    put(reader, "/a/a.txt", ["alpha beta"])
    assert len(reader.dense.search(EMB.embed_query("alpha"), 5)) == 1  # index cached
    writer = EmbeddedStore(root, embedder_name=EMB.name, dim=EMB.dim, create=False)
    put(writer, "/b/b.txt", ["gamma delta"])  # its own connection, as another process has
    writer.close()
    assert len(reader.dense.search(EMB.embed_query("gamma"), 5)) == 2  # rebuilt for the new gen
    reader.close()


def test_other_embedder_is_refused(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path / "kb", embedder_name="e5", dim=384).close()
    with pytest.raises(EmbedderMismatch, match="e5"):
        EmbeddedStore(tmp_path / "kb", embedder_name="other", dim=384)


def test_missing_store_is_reported_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound, match="rag ingest"):
        EmbeddedStore(tmp_path / "nope", embedder_name="e5", dim=384, create=False)
    assert not (tmp_path / "nope").exists()


def test_non_store_directory_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        EmbeddedStore(tmp_path / "docs", embedder_name="e5", dim=384)


def test_second_writer_gets_store_locked_after_waiting(store: EmbeddedStore) -> None:
    other = FileLock(str(store.root / ".write.lock"))
    other.acquire()
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreLocked, match="another process"), store.writing(wait=0.3):
            pass
        assert time.monotonic() - t0 >= 0.3
    finally:
        other.release()


def test_second_writer_proceeds_when_the_first_finishes_in_time(store: EmbeddedStore) -> None:
    held = threading.Event()

    def first_writer() -> None:
        with FileLock(str(store.root / ".write.lock")):
            held.set()
            time.sleep(0.3)

    threading.Thread(target=first_writer).start()
    held.wait()
    with store.writing(wait=5):
        put(store, "/a/a.txt", ["written after the wait"])
    assert store.chunks.counts().documents == 1


def test_delete_without_a_loaded_index_does_not_load_faiss(store: EmbeddedStore) -> None:
    with store.writing():
        info = put(store, "/a/a.txt", ["alpha"])
    fresh = EmbeddedStore(store.root, embedder_name=EMB.name, dim=EMB.dim, create=False)
    with fresh.writing():
        fresh.delete_document(info.id)
    assert fresh.dense._index is None  # nothing loaded to delete a document
    assert fresh.dense.search(HashingEmbedder(64).embed_query("alpha"), 5) == []
    fresh.close()


def test_threads_that_ended_do_not_keep_connections(store: EmbeddedStore) -> None:
    put(store, "/a/a.txt", ["alpha beta"])

    def read() -> None:
        assert store.keywords.search("alpha", 1)

    for _ in range(30):  # a server starting a thread per request
        t = threading.Thread(target=read)
        t.start()
        t.join()
    read()  # a new connection here closes those of the threads that ended
    assert len(store._db._all) <= 3


def test_a_second_writer_thread_waits_for_the_first(store: EmbeddedStore) -> None:
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with store.writing():
            held.set()
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    held.wait()
    with pytest.raises(StoreLocked, match="another writer in this process"), store.writing(0.2):
        pass
    threading.Timer(0.2, release.set).start()
    with store.writing(5), store.writing():  # waits its turn; re-entrant on one thread
        put(store, "/b/b.txt", ["after the first writer"])
    t.join()
    assert store.chunks.counts().documents == 1
