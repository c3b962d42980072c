"""`Store.write_document` on every store: batches make one document, written whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest.errors import CorruptDocument
from ingest.hashing import content_id
from ingest.ports import ChunkBatch, Store
from ingest.types import Chunk, DocumentInfo
from tests.contract.conftest import EMB


def _doc(version: str) -> DocumentInfo:
    return DocumentInfo(
        content_id("/a/notes.txt", version), "/a/notes.txt", "notes.txt", "Notes", "txt",
        version, 100, 0, 0.0,
    )  # fmt: skip


def _batches(
    doc: DocumentInfo, texts: list[str], fail_after: int | None = None
) -> Iterator[ChunkBatch]:
    """Two chunks a batch; a vector may come a batch after its chunk, as the ingestor sends it."""
    late: dict[str, object] = {}
    for n, start in enumerate(range(0, len(texts), 2)):
        if fail_after is not None and n == fail_after:
            raise CorruptDocument("notes.txt: broken halfway")
        part = texts[start : start + 2]
        chunks = [
            Chunk(content_id(doc.id, str(start + i), t), doc.id, start + i, t, content_id(t))
            for i, t in enumerate(part)
        ]
        vectors = dict(late)
        late = {c.text_hash: v for c, v in zip(chunks, EMB.embed_passages(part), strict=True)}
        yield ChunkBatch(chunks, part, vectors)  # type: ignore[arg-type]
    yield ChunkBatch(vectors=late)  # type: ignore[arg-type]


V1 = [f"Version one sentence {i} about adapters." for i in range(7)]
V2 = [f"Version two sentence {i} about quantisation." for i in range(9)]


def test_batches_make_one_document_counted_by_the_store(store: Store) -> None:
    written = store.write_document(_doc("v1"), _batches(_doc("v1"), V1))
    assert written.n_chunks == 7
    assert store.chunks.documents() == [written]
    assert [c.text for c in store.chunks.chunks_of(written.id)] == V1
    assert store.chunks.missing_vectors({content_id(t) for t in V1}) == set()
    [(top, _)] = store.dense.search(EMB.embed_query(V1[3]), 1)
    assert top == store.chunks.chunks_of(written.id)[3].id
    assert store.keywords.search("adapters", 10)


def test_a_batch_that_fails_leaves_the_last_version_whole(store: Store) -> None:
    first = store.write_document(_doc("v1"), _batches(_doc("v1"), V1))
    generation = store.chunks.generation()
    with pytest.raises(CorruptDocument):
        store.write_document(_doc("v2"), _batches(_doc("v2"), V2, fail_after=3))
    assert store.chunks.generation() == generation
    assert store.chunks.documents() == [first]
    assert [c.text for c in store.chunks.chunks_of(first.id)] == V1
    assert store.keywords.search("quantisation", 10) == []
    assert len(store.dense.search(EMB.embed_query("adapters"), 50)) == 7
    second = store.write_document(_doc("v2"), _batches(_doc("v2"), V2))
    assert store.chunks.documents() == [second] and second.n_chunks == 9
