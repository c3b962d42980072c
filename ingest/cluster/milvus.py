"""The cluster backend's indexes: one Milvus collection per knowledge base holding each chunk's
vector and its indexed text, which Milvus's own BM25 function turns into a sparse vector.

Rows are keyed by the chunk's PostgreSQL key (`chunks.pk`) and carry the document id, so a
filter becomes the Milvus expression `doc_id in [...]` over the documents PostgreSQL found to
pass it. Portable on purpose, so the same code runs on Milvus Lite here and on a Milvus server:
AUTOINDEX for the dense vectors, SPARSE_INVERTED_INDEX for BM25 (what Milvus Lite supports), no
reliance on the sign of BM25 scores, no TEXT_MATCH.
"""

from __future__ import annotations

import json
import logging
import uuid
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ingest.errors import StoreError
from ingest.ports import Scored

log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 65_535  # Milvus VARCHAR limit: longer indexed text is cut for BM25 only
WRITE_BATCH = 1_000
# jieba for Chinese (Milvus's "chinese" analyzer is jieba too), lower-cased so "LoRA" finds "lora"
ANALYZER = {"tokenizer": "jieba", "filter": ["lowercase"]}


def _cut(text: str) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= MAX_TEXT_BYTES:
        return text
    return raw[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")


class MilvusIndexes:
    """The dense and BM25 indexes of one knowledge base (`<name>_chunks`)."""

    def __init__(self, uri: str, name: str, dim: int) -> None:
        with warnings.catch_warnings():  # milvus-lite imports pkg_resources, deprecated
            warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
            from pymilvus import MilvusClient

        self.uri, self.collection, self.dim = uri, f"{name}_chunks", dim
        try:
            # a connection of its own: pymilvus shares one per URI by default, and closing
            # any client on it closes it under every other store open on that URI
            self._client = MilvusClient(uri, timeout=30, alias=f"rag-{uuid.uuid4().hex}")
        except Exception as e:  # pymilvus raises MilvusException or grpc errors
            raise StoreError(
                f"cannot reach Milvus at {uri} (RAG_MILVUS_URI; `scripts/services.sh up` "
                f"starts one on loopback): {e}"
            ) from e

    def create(self) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self._client
        if c.has_collection(self.collection):
            return
        schema = c.create_schema(auto_id=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
        schema.add_field(
            "text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
            analyzer_params=ANALYZER,
        )  # fmt: skip
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25,
                input_field_names=["text"], output_field_names=["sparse"],
            )
        )  # fmt: skip
        index = c.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        c.create_collection(
            self.collection, schema=schema, index_params=index, consistency_level="Strong"
        )

    def exists(self) -> bool:
        return bool(self._client.has_collection(self.collection))

    def drop(self) -> None:
        if self._client.has_collection(self.collection):
            self._client.drop_collection(self.collection)

    def close(self) -> None:
        self._client.close()

    # --- writes (from the outbox, after PostgreSQL committed) ---------------------------------

    def upsert(self, rows: Sequence[tuple[int, str, str, bytes]]) -> None:
        """Rows of (pk, doc_id, indexed text, float32 vector bytes)."""
        for i in range(0, len(rows), WRITE_BATCH):
            batch = [
                {"pk": pk, "doc_id": doc_id, "text": _cut(text),
                 "vector": np.frombuffer(vec, dtype=np.float32).tolist()}
                for pk, doc_id, text, vec in rows[i : i + WRITE_BATCH]
            ]  # fmt: skip
            self._client.upsert(self.collection, batch)

    def delete(self, pks: Sequence[int]) -> None:
        for i in range(0, len(pks), WRITE_BATCH):
            self._client.delete(self.collection, ids=list(pks[i : i + WRITE_BATCH]))

    def pks(self) -> Iterator[int]:
        """Every key in the collection (for `rag doctor`), a page at a time."""
        # Milvus Lite has no server timestamp for iterators: pymilvus warns, then uses its own
        logging.getLogger("pymilvus").setLevel(logging.ERROR)
        it = self._client.query_iterator(
            self.collection, batch_size=4096, filter="pk >= 0", output_fields=["pk"]
        )
        try:
            while page := it.next():
                yield from (int(r["pk"]) for r in page)
        finally:
            it.close()

    def vectors(self, pks: Sequence[int]) -> dict[int, np.ndarray]:
        rows = self._client.get(self.collection, ids=list(pks), output_fields=["vector"])
        return {int(r["pk"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}

    # --- searches -----------------------------------------------------------------------------

    def search_dense(
        self, query: np.ndarray, k: int, doc_ids: Sequence[str] | None
    ) -> list[tuple[int, float]]:
        return self._search(
            [np.asarray(query, dtype=np.float32).reshape(-1).tolist()], "vector", "IP", k, doc_ids
        )

    def search_keywords(
        self, query: str, k: int, doc_ids: Sequence[str] | None
    ) -> list[tuple[int, float]]:
        ranked = self._search([query], "sparse", "BM25", k, doc_ids)
        return positive(ranked)

    def _search(
        self, data: list[Any], field: str, metric: str, k: int, doc_ids: Sequence[str] | None
    ) -> list[tuple[int, float]]:
        if k <= 0 or (doc_ids is not None and not doc_ids):
            return []
        expr = f"doc_id in {json.dumps(list(doc_ids))}" if doc_ids is not None else ""
        res = self._client.search(
            self.collection, data=data, anns_field=field, limit=min(k, 16_384), filter=expr,
            search_params={"metric_type": metric}, output_fields=[],
        )  # fmt: skip
        return [(int(h["id"]), float(h["distance"])) for h in res[0]]


def positive(ranked: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Scores made positive and falling, order kept: Milvus returns the best first, but engines
    differ on the sign (and direction) of a BM25 score, and hybrid fusion divides by the best."""
    if not ranked:
        return []
    scores = [s for _, s in ranked]
    if scores[0] < scores[-1]:  # best first yet rising: a distance, smaller is better
        scores = [-s for s in scores]
    low = min(scores)
    if low <= 0:
        scores = [s - low + 1e-6 for s in scores]
    return [(pk, s) for (pk, _), s in zip(ranked, scores, strict=True)]


def to_scored(ranked: Sequence[tuple[int, float]], ids: dict[int, str]) -> list[Scored]:
    """Milvus keys as chunk ids; keys PostgreSQL no longer has (a lagging index) are dropped."""
    return [(ids[pk], s) for pk, s in ranked if pk in ids]
