"""`RagLLM`: the engine's own generator as a LlamaIndex LLM, so a query engine can answer
offline with the model the settings name (llama.cpp, or the OpenAI-compatible endpoint).

It is a chat model: LlamaIndex's chat prompts go to `Generator.stream` as our messages, with
the settings' answer length and temperature. Without an `llm=`, LlamaIndex would fall back to
its `Settings.llm`, which is OpenAI's hosted API.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import PrivateAttr

from rag.engine import Engine
from rag.generation.base import Message

ROLES = {MessageRole.SYSTEM: "system", MessageRole.ASSISTANT: "assistant"}  # others: "user"


class RagLLM(CustomLLM):
    """Answers with `engine.generator`, loaded on the first answer (not when built)."""

    max_tokens: int
    temperature: float
    context_window: int
    model_name: str
    _engine: Engine = PrivateAttr()

    def __init__(self, engine: Engine, **fields: Any) -> None:
        s = engine.settings
        model = s.openai_model if s.generator == "openai" else s.model
        fields = {
            "max_tokens": s.max_answer_tokens, "temperature": s.temperature,
            "context_window": s.context_tokens, "model_name": model or s.generator, **fields,
        }  # fmt: skip
        super().__init__(**fields)
        self._engine = engine

    @classmethod
    def class_name(cls) -> str:
        return "RagLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window, num_output=self.max_tokens,
            is_chat_model=True, model_name=self.model_name,
        )  # fmt: skip

    def _tokens(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        ours: list[Message] = [
            {"role": ROLES.get(m.role, "user"), "content": m.content or ""} for m in messages
        ]
        return self._engine.generator.stream(
            ours, max_tokens=self.max_tokens, temperature=self.temperature
        )

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = "".join(self._tokens(messages))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        def gen() -> ChatResponseGen:
            text = ""
            for token in self._tokens(messages):
                text += token
                message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                yield ChatResponse(message=message, delta=token)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="".join(self._tokens([ChatMessage(content=prompt)])))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for token in self._tokens([ChatMessage(content=prompt)]):
                text += token
                yield CompletionResponse(text=text, delta=token)

        return gen()
