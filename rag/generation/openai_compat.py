"""Generation through any OpenAI-compatible chat endpoint (vLLM, llama-server, hosted APIs)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from rag.generation.base import GenerationError, Message


class OpenAIGenerator:
    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, context_tokens: int = 8192
    ) -> None:
        self._base_url = base_url
        self._model = model
        self._api_key = api_key or "not-needed"
        self._context_tokens = context_tokens

    @property
    def name(self) -> str:
        return f"{self._model}@{self._base_url}"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    @cached_property
    def _client(self) -> Any:
        from openai import OpenAI

        return OpenAI(base_url=self._base_url, api_key=self._api_key, timeout=120, max_retries=1)

    def count_tokens(self, text: str) -> int:
        # The endpoint's tokenizer is unknown here; ~3 characters a token errs on the safe side
        # for English and Chinese alike when fitting the prompt budget.
        return len(text) // 3 + 1

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        import openai

        kwargs: dict[str, Any] = {}
        if json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": json_schema},
            }
        try:
            stream = self._client.chat.completions.create(
                model=self._model, messages=messages, max_tokens=max_tokens,
                temperature=temperature, stream=True, **kwargs,
            )  # fmt: skip
            for event in stream:
                if event.choices and event.choices[0].delta.content:
                    yield event.choices[0].delta.content
        except openai.OpenAIError as e:
            raise GenerationError(f"OpenAI-compatible endpoint {self._base_url}: {e}") from e
