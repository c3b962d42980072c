"""Every `Store` behaves the same: the embedded one (SQLite + FAISS + FTS5) and the in-memory fake.

A cluster backend (PostgreSQL + Milvus) joins the `store` fixture's params and passes these
unchanged. Only the ports are used: documents by id, chunks by id, filters as values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.errors import DocumentNotFound
from ingest.hashing import content_id
from ingest.ports import Store, StoreCounts
from ingest.types import Chunk, DocumentInfo, SearchFilter
from tests.contract.conftest import EMB


def _doc(
    source: str, texts: list[str], version: str = "v1", metadata: dict[str, str] | None = None
) -> tuple[DocumentInfo, list[Chunk]]:
    doc_id = content_id(source, version)
    chunks = [
        Chunk(content_id(doc_id, t), doc_id, i, t, content_id(t), ("Intro",), None, "paragraph", 5)
        for i, t in enumerate(texts)
    ]
    info = DocumentInfo(
        doc_id, source, Path(source).name, source, "txt", version, 10, len(chunks), 0.0,
        metadata or {},
    )  # fmt: skip
    return info, chunks


def put(
    store: Store,
    source: str,
    texts: list[str],
    version: str = "v1",
    metadata: dict[str, str] | None = None,
) -> DocumentInfo:
    info, chunks = _doc(source, texts, version, metadata)
    vectors = dict(zip([c.text_hash for c in chunks], EMB.embed_passages(texts), strict=True))
    missing = store.chunks.missing_vectors(vectors)
    store.put_document(info, chunks, texts, {h: v for h, v in vectors.items() if h in missing})
    return info


def _ids(ranked: list[tuple[str, float]]) -> list[str]:
    return [cid for cid, _ in ranked]


def test_iter_chunks_of_pages_in_reading_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.store.chunks.CHUNK_PAGE", 4)  # 10 chunks: pages of 4, 4, 2
    texts = [f"Sentence {i} about adapters and ranks." for i in range(10)]
    info = put(store, "/a/long.txt", texts)
    put(store, "/a/other.txt", ["Another document's only chunk."])
    walked = list(store.chunks.iter_chunks_of(info.id))
    assert walked == store.chunks.chunks_of(info.id)
    assert [c.text for c in walked] == texts
    assert list(store.chunks.iter_chunks_of("unknown")) == []


def test_documents_and_chunks_round_trip(store: Store) -> None:
    info = put(store, "/a/lora.txt", ["LoRA trains two low-rank matrices.", "QLoRA uses NF4."])
    assert store.chunks.documents() == [info]
    assert store.chunks.document(info.id) == info
    assert store.chunks.document_by_source("/a/lora.txt") == info
    assert store.chunks.document("nope") is None
    assert [c.text for c in store.chunks.chunks_of(info.id)] == [
        "LoRA trains two low-rank matrices.",
        "QLoRA uses NF4.",
    ]
    assert store.chunks.counts() == StoreCounts(documents=1, chunks=2)


def test_every_write_raises_the_generation(store: Store) -> None:
    g0 = store.chunks.generation()
    info = put(store, "/a/a.txt", ["alpha"])
    g1 = store.chunks.generation()
    store.delete_document(info.id)
    assert g0 < g1 < store.chunks.generation()


def test_hits_follow_the_given_order_and_skip_unknown_ids(store: Store) -> None:
    info = put(store, "/a/a.txt", ["first text", "second text"])
    a, b = store.chunks.chunks_of(info.id)
    hits = store.chunks.hits([(b.id, 0.9), ("no-such-chunk", 0.5), (a.id, 0.1)])
    assert [(h.chunk.id, h.score) for h in hits] == [(b.id, 0.9), (a.id, 0.1)]
    assert hits[0].document == info and hits[0].chunk == b
    assert store.chunks.hits([]) == []


def test_same_source_replaces_the_old_document(store: Store) -> None:
    old = put(store, "/a/doc.txt", ["old text about GPUs"], "v1")
    new = put(store, "/a/doc.txt", ["new text about quantization"], "v2")
    assert [d.id for d in store.chunks.documents()] == [new.id]
    assert store.chunks.chunks_of(old.id) == []
    assert store.keywords.search("gpus", 5) == []
    assert len(store.keywords.search("quantization", 5)) == 1
    assert {h.document.id for h in store.chunks.hits(store.dense.search(EMB.embed_query("GPUs"), 5))} == {new.id}  # fmt: skip


def test_delete_removes_chunks_vectors_and_keywords(store: Store) -> None:
    keep = put(store, "/a/keep.txt", ["DPO optimises preferences directly."])
    gone = put(store, "/a/gone.txt", ["GRPO compares a group of samples."])
    store.delete_document(gone.id)
    assert [d.id for d in store.chunks.documents()] == [keep.id]
    assert store.keywords.search("grpo", 5) == []
    ranked = store.dense.search(EMB.embed_query("GRPO compares a group"), 5)
    assert [store.chunks.hits(ranked)[0].document.id] == [keep.id] and len(ranked) == 1
    with pytest.raises(DocumentNotFound):
        store.delete_document(gone.id)


def test_shared_text_is_embedded_once_and_kept_while_referenced(store: Store) -> None:
    a = put(store, "/a/a.txt", ["identical paragraph", "only in a"])
    b_info, b_chunks = _doc("/a/b.txt", ["identical paragraph"])
    assert store.chunks.missing_vectors([b_chunks[0].text_hash]) == set()
    store.put_document(b_info, b_chunks, ["identical paragraph"], {})
    store.delete_document(a.id)
    assert store.chunks.missing_vectors([b_chunks[0].text_hash]) == set()
    ranked = store.dense.search(EMB.embed_query("identical paragraph"), 5)
    assert _ids(ranked) == [b_chunks[0].id]  # b's chunk still has its vector
    assert store.chunks.missing_vectors([content_id("only in a")]) == {content_id("only in a")}


def test_keyword_search_ranks_by_bm25_and_pushes_filters_down(store: Store) -> None:
    a = put(store, "/x/a.txt", ["量化 把权重压缩到 4 bit", "completely unrelated text"])
    b = put(store, "/y/b.txt", ["量化 量化 量化 的效果"])
    ranked = store.keywords.search("量化", 10)
    assert len(ranked) == 2 and ranked[0][1] >= ranked[1][1] > 0
    assert store.chunks.hits(ranked)[0].document.id == b.id  # three mentions beat one
    only_a = store.keywords.search("量化", 10, SearchFilter(path_glob="/x/*"))
    assert [h.document.id for h in store.chunks.hits(only_a)] == [a.id]
    by_id = store.keywords.search("量化", 10, SearchFilter(doc_ids=(b.id,)))
    assert [h.document.id for h in store.chunks.hits(by_id)] == [b.id]
    assert store.keywords.search("量化", 10, SearchFilter(path_glob="/nowhere/*")) == []
    assert store.keywords.search("量化", 10, SearchFilter()) == ranked


def test_keyword_query_with_fts_syntax_characters_is_safe(store: Store) -> None:
    put(store, "/a/a.txt", ['say "hello" AND NOT world'])
    assert store.keywords.search('"hello" AND NOT ( *', 5)
    assert store.keywords.search("", 5) == [] and store.keywords.search("的", 5) == []


def test_dense_search_ranks_by_cosine_and_pushes_filters_down(store: Store) -> None:
    a = put(store, "/a/a.txt", ["alpha beta gamma"])
    b = put(store, "/b/b.txt", ["delta epsilon zeta"])
    q = EMB.embed_query("delta epsilon")
    top = store.chunks.hits(store.dense.search(q, 1))
    assert [h.document.id for h in top] == [b.id]
    np.testing.assert_allclose(
        store.dense.search(EMB.embed_query("delta epsilon zeta"), 1)[0][1], 1.0, atol=1e-5
    )
    only_a = store.dense.search(q, 5, SearchFilter(doc_ids=(a.id,)))
    assert [h.document.id for h in store.chunks.hits(only_a)] == [a.id]
    assert store.dense.search(q, 5, SearchFilter(path_glob="*.pdf")) == []
    assert store.dense.search(q, 0) == []


def test_passing_applies_the_filter_to_chunk_ids(store: Store) -> None:
    a = put(store, "/x/a.txt", ["one", "two"])
    b = put(store, "/y/b.txt", ["three"])
    ids = [c.id for d in (a, b) for c in store.chunks.chunks_of(d.id)] + ["unknown"]
    assert store.chunks.passing(ids, None) == set(ids[:3])
    assert store.chunks.passing(ids, SearchFilter(path_glob="/y/*")) == {ids[2]}
    assert store.chunks.passing(ids, SearchFilter(doc_ids=(a.id,))) == set(ids[:2])
    assert store.chunks.passing(ids, SearchFilter(path_glob="b.txt")) == {ids[2]}  # file name


def test_metadata_is_kept_with_the_document_and_filters_every_search(store: Store) -> None:
    a = put(store, "/x/a.txt", ["量化 alpha beta"], metadata={"team": "ml", "year": "2024"})
    b = put(store, "/x/b.txt", ["量化 alpha gamma"], metadata={"team": "infra", "a.b": "dotted"})
    c = put(store, "/x/c.txt", ["量化 alpha delta"])
    assert store.chunks.document(a.id) is not None
    assert store.chunks.document(a.id).metadata == {"team": "ml", "year": "2024"}  # type: ignore[union-attr]
    assert store.chunks.documents()[2].metadata == {}
    hit = store.chunks.hits(store.keywords.search("gamma", 1))[0]
    assert hit.document.metadata == {"team": "infra", "a.b": "dotted"}
    q = EMB.embed_query("量化 alpha")

    def found(flt: SearchFilter) -> set[str]:
        dense = {h.document.id for h in store.chunks.hits(store.dense.search(q, 10, flt))}
        words = {h.document.id for h in store.chunks.hits(store.keywords.search("量化", 10, flt))}
        ids = [ch.id for d in (a, b, c) for ch in store.chunks.chunks_of(d.id)]
        passing = {
            store.chunks.hits([(i, 0.0)])[0].document.id for i in store.chunks.passing(ids, flt)
        }
        assert dense == words == passing, flt  # one rule, pushed down three ways
        return dense

    assert found(SearchFilter(metadata=(("team", "ml"),))) == {a.id}
    assert found(SearchFilter(metadata=(("team", "ml"), ("team", "infra")))) == {a.id, b.id}
    assert found(SearchFilter(metadata=(("team", "ml"), ("year", "2024")))) == {a.id}
    assert found(SearchFilter(metadata=(("team", "infra"), ("year", "2024")))) == set()
    assert found(SearchFilter(metadata=(("a.b", "dotted"),))) == {b.id}  # a key, not a path
    assert found(SearchFilter(metadata=(("team", "ML"),))) == set()  # values match exactly
    assert found(SearchFilter(path_glob="*b.txt", metadata=(("team", "ml"),))) == set()
    assert found(SearchFilter(doc_ids=(a.id, c.id), metadata=(("team", "ml"),))) == {a.id}


def test_find_documents_by_id_prefix_name_and_glob(store: Store) -> None:
    a = put(store, "/papers/lora.txt", ["LoRA"])
    b = put(store, "/papers/dpo.txt", ["DPO"])
    assert store.chunks.find_documents(a.id) == [a]
    assert store.chunks.find_documents(a.id[:8]) == [a]
    assert store.chunks.find_documents(a.id[:3]) == []  # too short to be a prefix
    assert store.chunks.find_documents("dpo.txt") == [b]
    assert store.chunks.find_documents("/papers/*.txt") == [b, a]  # ordered by source


def test_failed_write_changes_nothing(store: Store) -> None:
    info, chunks = _doc("/a/a.txt", ["one", "two"])
    with pytest.raises(ValueError):  # fewer indexed texts than chunks
        store.put_document(info, chunks, ["one"], {})
    assert store.chunks.documents() == [] and store.chunks.counts().chunks == 0


def test_reading_gives_a_consistent_view(store: Store) -> None:
    info = put(store, "/a/a.txt", ["inside a read"])
    with store.reading(), store.reading():  # re-entrant
        ranked = store.keywords.search("inside", 5)
        assert store.chunks.hits(ranked)[0].document == info


def test_vectors_are_read_back_as_stored_by_text_hash(store: Store) -> None:
    info = put(store, "/a/lora.txt", ["LoRA trains two low-rank matrices.", "QLoRA uses NF4."])
    other = put(store, "/a/copy.txt", ["QLoRA uses NF4."])  # shared text: one stored vector
    chunks = store.chunks.chunks_of(info.id) + store.chunks.chunks_of(other.id)
    got = store.chunks.vectors([c.text_hash for c in chunks] + ["no-such-hash"])
    assert len(got) == 2 and set(got) == {c.text_hash for c in chunks}
    for c in chunks:
        want = EMB.embed_passages([c.text])[0]
        assert got[c.text_hash].dtype == np.float32
        assert np.array_equal(got[c.text_hash], want)
    assert store.chunks.vectors([]) == {}
