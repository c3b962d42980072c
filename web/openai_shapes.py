"""The JSON shapes of the OpenAI-compatible API (web/openai_api.py): model ids, completions,
stream chunks, and sources in the two forms chat front-ends read.

Model ids come from the one registry of modes: `rag`, `graph`, `kag`, and one `graph:<strategy>`
per graph strategy, so a front-end's model menu picks the strategy too.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ingest.types import ChunkHit
from rag.choices import GraphStrategy, ModeName
from rag.generation.base import Message
from rag.modes.registry import MODES
from rag.types import Answer, Source
from web import shapes
from web.errors import ModelNotFound

OWNER = "rag-kg"
STARTED = int(time.time())  # models exist as long as the server runs: `created` is its start


@dataclass(frozen=True)
class ChatModel:
    id: str
    name: str  # what Open WebUI shows in its model menu
    mode: ModeName
    strategy: GraphStrategy | None = None


def chat_models() -> list[ChatModel]:
    models = []
    for spec in MODES.values():
        models.append(ChatModel(spec.name, spec.title, spec.name))
        for s in spec.strategies:
            models.append(ChatModel(f"{spec.name}:{s}", f"{spec.title} ({s})", spec.name, s))
    return models


def chat_model(model_id: Any) -> ChatModel:
    for m in chat_models():
        if m.id == model_id:
            return m
    known = ", ".join(m.id for m in chat_models())
    raise ModelNotFound(f"the model {model_id!r} does not exist; choose one of {known}")


def model_json(m: ChatModel) -> dict[str, Any]:
    return {"id": m.id, "object": "model", "created": STARTED, "owned_by": OWNER, "name": m.name}


def model_list() -> dict[str, Any]:
    return {"object": "list", "data": [model_json(m) for m in chat_models()]}


# --- completions -----------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


_HAN = "\u3400-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_HAN}]|[^\W{_HAN}]+|[^\w\s]")  # a Chinese character, a word, a mark


def estimate_tokens(text: str) -> int:
    """Words, punctuation marks and Chinese characters: the Engine does not report the model's
    own count, and this is within a few tens of percent of it for English and Chinese."""
    return len(_TOKEN.findall(text))


def usage(prompt: list[str], completion: str) -> dict[str, int]:
    p, c = sum(estimate_tokens(t) for t in prompt), estimate_tokens(completion)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def answer_usage(answer: Answer, history: list[Message]) -> dict[str, int]:
    """The prompt as the question, the earlier turns and the passages; the completion."""
    prompt = [answer.question, *(m["content"] for m in history), *(s.text for s in answer.sources)]
    return usage(prompt, answer.answer)


def completion(
    cid: str,
    model: str,
    content: str,
    tokens: dict[str, int],
    answer: Answer | None = None,
) -> dict[str, Any]:
    """A `chat.completion`, with the extension fields `sources` (every passage the answer may
    cite, as /api/v1/ask lists them) and `cited` (the numbers it does cite)."""
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": tokens,
        "sources": [shapes.source_json(s) for s in answer.sources] if answer else [],
        "cited": list(answer.cited) if answer else [],
    }  # fmt: skip


def chunk(cid: str, model: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A `chat.completion.chunk`; `choices` is empty for frames that carry only `extra`."""
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": choices, **extra}  # fmt: skip


def delta(content: str | None = None, *, role: str | None = None,
          finish: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    d: dict[str, Any] = {}
    if role is not None:
        d["role"] = role
    if content is not None:
        d["content"] = content
    return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]


def webui_source(s: Source, hit: ChunkHit | None) -> dict[str, Any]:
    """One passage as Open WebUI's `source` event reads it (src/lib/components/chat/Messages/
    Citations.svelte): `document` and `metadata` are parallel lists, and passages are grouped
    by `metadata[i].source`. Each passage gets its own id (the chunk id), so Open WebUI's n-th
    citation is our passage [n] and the answer's inline `[n]` opens the right one; `page` is
    0-based there, 1-based here."""
    name = hit.document.name if hit else s.document.rsplit("/", 1)[-1]
    meta: dict[str, Any] = {"source": s.chunk_id, "name": f"[{s.n}] {name}"}
    if s.location:
        meta["name"] += f", {s.location}"
    if hit and hit.chunk.page is not None:
        meta["page"] = hit.chunk.page - 1
    return {"source": {"id": s.doc_id, "name": name}, "document": [s.text],
            "metadata": [meta], "distances": [s.score]}  # fmt: skip


def sse(data: dict[str, Any] | str) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"
