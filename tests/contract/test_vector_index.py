"""Every VectorIndex behaves like the brute-force reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.embedding import HashingEmbedder
from ingest.vector_index import FaissIndex, NumpyIndex, VectorIndex

TEXTS = [
    "LoRA freezes the pretrained weights and trains low-rank matrices",
    "QLoRA quantizes the frozen base model to 4-bit NF4",
    "DPO learns from preference pairs without a reward model",
    "GRPO compares a group of sampled answers",
    "量化把权重从 16 位压缩到 4 位",
    "检索增强生成先检索再生成",
]
EMB = HashingEmbedder(128)


@pytest.fixture(params=["numpy", "faiss"])
def index(request: pytest.FixtureRequest) -> VectorIndex:
    idx: VectorIndex = NumpyIndex(EMB.dim) if request.param == "numpy" else FaissIndex(EMB.dim)
    idx.add(np.arange(100, 100 + len(TEXTS)), EMB.embed_passages(TEXTS))
    return idx


def test_search_ranks_like_brute_force(index: VectorIndex) -> None:
    q = EMB.embed_query("4-bit NF4 quantization of the base model")
    got = index.search(q, 3)
    scores = EMB.embed_passages(TEXTS) @ q
    want = [100 + int(i) for i in np.argsort(-scores)[:3]]
    assert [i for i, _ in got] == want
    np.testing.assert_allclose([s for _, s in got], np.sort(scores)[::-1][:3], rtol=1e-5)


def test_allowed_ids_restrict_the_search(index: VectorIndex) -> None:
    q = EMB.embed_query("LoRA low-rank")
    assert [i for i, _ in index.search(q, 5, allowed={103, 104})] in ([103, 104], [104, 103])
    assert index.search(q, 5, allowed=set()) == []


def test_remove_drops_ids(index: VectorIndex) -> None:
    index.remove([100, 101])
    assert len(index) == len(TEXTS) - 2
    assert {i for i, _ in index.search(EMB.embed_query("LoRA"), 10)} == {102, 103, 104, 105}


def test_k_larger_than_index(index: VectorIndex) -> None:
    assert len(index.search(EMB.embed_query("x"), 50)) == len(TEXTS)


def test_faiss_save_and_load_round_trip(tmp_path: Path) -> None:
    idx = FaissIndex(EMB.dim)
    idx.add(np.arange(len(TEXTS)), EMB.embed_passages(TEXTS))
    idx.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss")
    q = EMB.embed_query("preference pairs")
    assert loaded.search(q, 2) == idx.search(q, 2)
