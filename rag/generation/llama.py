"""Local generation with llama.cpp (llama-cpp-python) from a GGUF file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from ingest.errors import ModelNotInstalled
from rag.generation.base import GenerationError, Message

log = logging.getLogger(__name__)


class LlamaCppGenerator:
    def __init__(self, model_path: Path, *, context_tokens: int = 4096, threads: int = 2) -> None:
        self._path = Path(model_path)
        self._context_tokens = context_tokens
        self._threads = threads

    @property
    def name(self) -> str:
        return self._path.name

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    @cached_property
    def _llm(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelNotInstalled(
                "llama-cpp-python is not installed; run: make setup (it builds it for this CPU)"
            ) from e
        log.info("loading %s", self._path)
        try:
            return Llama(
                model_path=str(self._path), n_ctx=self._context_tokens, n_threads=self._threads,
                n_threads_batch=self._threads, verbose=False,
            )  # fmt: skip
        except (ValueError, RuntimeError) as e:
            raise GenerationError(f"could not load GGUF model {self._path}: {e}") from e

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        kwargs: dict[str, Any] = {}
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        try:
            parts = self._llm.create_chat_completion(
                messages=list(messages), max_tokens=max_tokens, temperature=temperature,
                stream=True, **kwargs,
            )  # fmt: skip
            for part in parts:
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta
        except (ValueError, RuntimeError) as e:
            raise GenerationError(f"generation failed: {e}") from e
