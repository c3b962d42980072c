"""The `Embedder` seam and its deterministic fake.

Vectors are L2-normalised float32 rows, so inner product is cosine similarity everywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ingest.keywords import word_tokens

_CJK = "\u3000-\u9fff\uf900-\ufaff\uff00-\uffef"
_ROUGH_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


@runtime_checkable
class Embedder(Protocol):
    """Turns passages and queries into vectors of `dim` floats; `name` is recorded in a store."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


ANSWER_TIME_BATCH = 8
"""Texts per call when embedding at answer time (rag.support, rag.compression): below e5's
bulk threshold, so an answer never loads the bulk (torch) runtime, 1 GB of memory more."""


def embed_small_batches(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """`embed_passages` of `texts`, a few at a time (see ANSWER_TIME_BATCH)."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    parts = [
        embedder.embed_passages(texts[i : i + ANSWER_TIME_BATCH])
        for i in range(0, len(texts), ANSWER_TIME_BATCH)
    ]
    return np.vstack(parts)


def normalise_rows(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


class HashingEmbedder:
    """A deterministic stand-in for tests: hashed keyword tokens and character bigrams.

    Texts that share words land near each other, so retrieval tests on real text mean
    something, yet nothing is loaded and the vectors are the same on every machine.
    """

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _features(self, text: str) -> list[str]:
        toks = word_tokens(text)
        chars = "".join(toks)
        return toks + [chars[i : i + 2] for i in range(len(chars) - 1)]

    def _embed(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        for feat in self._features(text):
            h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
            v[h % self._dim] += 1.0 if (h >> 32) & 1 else -1.0
        if not v.any():
            v[0] = 1.0
        return v

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return normalise_rows(np.stack([self._embed(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise_rows(self._embed(text)[None, :])[0]

    def count_tokens(self, text: str) -> int:
        """Roughly what a subword tokenizer gives: a token per CJK character or per other word."""
        return len(_ROUGH_TOKEN.findall(text))
