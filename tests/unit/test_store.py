"""The store: transactions, replacement, deletion, keyword search, filters, locking, manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from ingest.embedding import HashingEmbedder
from ingest.errors import DocumentNotFound, EmbedderMismatch, StoreError, StoreLocked
from ingest.hashing import content_id
from ingest.keywords import keyword_tokens
from ingest.store import Store
from ingest.types import Chunk, DocumentInfo, SearchFilter

EMB = HashingEmbedder(64)


def _doc(source: str, texts: list[str], version: str = "v1") -> tuple[DocumentInfo, list[Chunk]]:
    doc_id = content_id(source, version)
    chunks = [
        Chunk(content_id(doc_id, t), doc_id, i, t, content_id(t), ("Intro",), None, "paragraph", 5)
        for i, t in enumerate(texts)
    ]
    info = DocumentInfo(
        doc_id, source, Path(source).name, source, "txt", version, 10, len(chunks), 0.0
    )
    return info, chunks


def _put(store: Store, source: str, texts: list[str], version: str = "v1") -> DocumentInfo:
    info, chunks = _doc(source, texts, version)
    vectors = dict(zip([c.text_hash for c in chunks], EMB.embed_passages(texts), strict=True))
    missing = store.missing_vectors(vectors)
    store.put_document(
        info, chunks, [" ".join(keyword_tokens(t)) for t in texts],
        {h: v for h, v in vectors.items() if h in missing},
    )  # fmt: skip
    return info


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "kb", embedder_name=EMB.name, dim=EMB.dim)
    yield s
    s.close()


def test_documents_and_chunks_round_trip(store: Store) -> None:
    info = _put(store, "/a/lora.txt", ["LoRA trains two low-rank matrices.", "QLoRA uses NF4."])
    assert store.documents() == [info]
    assert [c.text for c in store.chunks_of(info.id)] == [
        "LoRA trains two low-rank matrices.",
        "QLoRA uses NF4.",
    ]
    assert store.counts() == {"documents": 1, "chunks": 2}


def test_same_source_replaces_the_old_document(store: Store) -> None:
    old = _put(store, "/a/doc.txt", ["old text about GPUs"], "v1")
    new = _put(store, "/a/doc.txt", ["new text about quantization"], "v2")
    assert [d.id for d in store.documents()] == [new.id]
    assert store.chunks_of(old.id) == []
    assert store.keyword_search(["gpus"], 5) == []
    assert len(store.keyword_search(["quantization"], 5)) == 1


def test_delete_removes_chunks_vectors_and_keywords(store: Store) -> None:
    keep = _put(store, "/a/keep.txt", ["DPO optimises preferences directly."])
    gone = _put(store, "/a/gone.txt", ["GRPO compares a group of samples."])
    store.delete_document(gone.id)
    assert [d.id for d in store.documents()] == [keep.id]
    assert store.keyword_search(["grpo"], 5) == []
    assert len(store.vector_index()) == 1
    with pytest.raises(DocumentNotFound):
        store.delete_document(gone.id)


def test_shared_text_is_embedded_once_and_kept_while_referenced(store: Store) -> None:
    a = _put(store, "/a/a.txt", ["identical paragraph", "only in a"])
    b_info, b_chunks = _doc("/a/b.txt", ["identical paragraph"])
    assert store.missing_vectors([b_chunks[0].text_hash]) == set()
    store.put_document(b_info, b_chunks, ["identical paragraph"], {})
    store.delete_document(a.id)
    assert len(store.vector_index()) == 1  # b's chunk still has its vector


def test_keyword_search_ranks_by_bm25_and_respects_filters(store: Store) -> None:
    a = _put(store, "/x/a.txt", ["量化 把权重压缩到 4 bit", "completely unrelated text"])
    _put(store, "/y/b.txt", ["量化 量化 量化 的效果"])
    ranked = store.keyword_search(keyword_tokens("量化"), 10)
    assert len(ranked) == 2 and ranked[0][1] >= ranked[1][1] > 0
    only_a = store.allowed_rowids(SearchFilter(path_glob="/x/*"))
    assert only_a is not None
    hits = store.hits(store.keyword_search(keyword_tokens("量化"), 10, only_a))
    assert [h.document.id for h in hits] == [a.id]
    assert store.allowed_rowids(SearchFilter()) is None


def test_keyword_query_with_fts_syntax_characters_is_safe(store: Store) -> None:
    _put(store, "/a/a.txt", ['say "hello" AND NOT world'])
    assert store.keyword_search(['"hello"', "AND", "NOT", "(", "*"], 5)


def test_vector_index_follows_writes_and_filters(store: Store) -> None:
    _put(store, "/a/a.txt", ["alpha beta gamma"])
    b = _put(store, "/b/b.txt", ["delta epsilon zeta"])
    q = EMB.embed_query("delta epsilon")
    index = store.vector_index()
    top = store.hits(index.search(q, 1))
    assert top[0].document.id == b.id
    allowed = store.allowed_rowids(SearchFilter(doc_ids=(b.id,)))
    assert [h.document.id for h in store.hits(index.search(q, 5, allowed))] == [b.id]


def test_reopened_store_loads_the_saved_vector_cache(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    s = Store(root, embedder_name=EMB.name, dim=EMB.dim)
    with s.writing():
        _put(s, "/a/a.txt", ["alpha beta"])
    gen = s.generation()
    s.close()
    assert (root / f"vectors-{gen}.faiss").is_file()
    s2 = Store(root, embedder_name=EMB.name, dim=EMB.dim, create=False)
    assert len(s2.vector_index()) == 1
    np.testing.assert_allclose(
        s2.vector_index().search(EMB.embed_query("alpha beta"), 1)[0][1], 1.0, atol=1e-5
    )
    s2.close()


def test_other_embedder_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "kb", embedder_name="e5", dim=384).close()
    with pytest.raises(EmbedderMismatch, match="e5"):
        Store(tmp_path / "kb", embedder_name="other", dim=384)


def test_missing_store_is_reported_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="rag ingest"):
        Store(tmp_path / "nope", embedder_name="e5", dim=384, create=False)
    assert not (tmp_path / "nope").exists()


def test_non_store_directory_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        Store(tmp_path / "docs", embedder_name="e5", dim=384)


def test_second_writer_gets_store_locked(store: Store) -> None:
    other = FileLock(str(store.root / ".write.lock"))
    other.acquire()
    try:
        with pytest.raises(StoreLocked, match="another process"), store.writing():
            pass
    finally:
        other.release()


def test_failed_write_rolls_back(store: Store) -> None:
    info, chunks = _doc("/a/a.txt", ["one", "two"])
    with pytest.raises(ValueError):  # keyword list shorter than chunks: fails mid-transaction
        store.put_document(info, chunks, ["one"], {})
    assert store.documents() == [] and store.counts()["chunks"] == 0
