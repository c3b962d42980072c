"""The OpenAI-compatible API, /v1: chat front-ends (Open WebUI, LibreChat, the `openai` client)
talk to the store as if it were a model.

`GET /v1/models` lists one model per mode (and graph strategy); `POST /v1/chat/completions`
answers the conversation's last question through the same Engine calls as /api/v1/ask, after
retrieving for the conversation (rag.conversation). A front-end's housekeeping prompts (title,
tags, …) are answered at once, without retrieval or model (rag.chat_tasks). Sources travel as
Open WebUI `source` events and as the extension fields `sources` and `cited`; the request may
carry the REST API's `filters`, `k`, `strategy` and `method` (the `openai` client sends them
with `extra_body=`). Errors take OpenAI's shape (web/errors.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from flask import Blueprint, Response, jsonify, stream_with_context

from ingest.errors import RagError
from rag.chat_tasks import answer_task, housekeeping_task
from rag.conversation import last_user_message, prompt_history, retrieval_question
from rag.engine import Engine
from rag.filters import filter_from_json
from rag.generation.base import Message
from rag.modes.base import Query
from rag.types import Done, Retrieved, Token
from web import openai_shapes as oa
from web import shapes
from web.api import _json_body, _optional, checked_query
from web.errors import BadRequest, openai_error_body
from web.workspace import current

log = logging.getLogger(__name__)
bp = Blueprint("v1", __name__)

ROLES = ("system", "developer", "user", "assistant", "tool")


@bp.get("/models")
def list_models() -> Response:
    return jsonify(oa.model_list())


@bp.get("/models/<path:model_id>")
def get_model(model_id: str) -> Response:
    return jsonify(oa.model_json(oa.chat_model(model_id)))


# --- request parsing --------------------------------------------------------------------------


def _text(content: Any, i: int) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    # [{"type": "text", "text": …}, {"type": "image_url", …}]: every part an object with a type
    parts = isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("type"), str) for p in content
    )
    if parts:
        texts = [p.get("text") for p in content if p["type"] == "text"]
        if all(isinstance(t, str) for t in texts):
            return "\n".join(texts)
    raise BadRequest(
        f"messages[{i}].content must be a string or a list of content parts"
        ' ({"type": "text", "text": …}, or another type, which is ignored)'
    )


def _messages(body: dict[str, Any]) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages is required: a non-empty list of {role, content} objects")
    out: list[Message] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise BadRequest(f"messages[{i}] must be an object whose role is one of "
                             + ", ".join(ROLES))  # fmt: skip
        out.append({"role": m["role"], "content": _text(m.get("content"), i)})
    if not last_user_message(out):
        raise BadRequest("messages must hold a user message with some text")
    return out


@dataclass(frozen=True)
class ChatRequest:
    model: oa.ChatModel
    messages: list[Message]
    stream: bool
    include_usage: bool


def _chat_request(body: dict[str, Any]) -> ChatRequest:
    """The fields this server reads; any other OpenAI field (temperature, max_tokens, user,
    tools, …) is accepted and ignored: the server's settings decide how the model answers."""
    model = oa.chat_model(body.get("model"))
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("stream must be true or false")
    options = _optional(body, "stream_options", dict) or {}
    if not isinstance(options.get("include_usage", False), bool):
        raise BadRequest("stream_options.include_usage must be true or false")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):  # `true == 1` in Python, not in JSON
        raise BadRequest("n must be 1: this server gives one answer per question")
    return ChatRequest(model, _messages(body), stream is True, options.get("include_usage") is True)


def _query(engine: Engine, req: ChatRequest, body: dict[str, Any]) -> Query:
    """The last question with the mode of the model id and the extension fields."""
    strategy = _optional(body, "strategy", str)
    if req.model.strategy and strategy not in (None, req.model.strategy):
        raise BadRequest(f"strategy {strategy!r} contradicts the model {req.model.id!r}")
    return checked_query(
        engine, last_user_message(req.messages), mode=req.model.mode,
        strategy=req.model.strategy or strategy, k=_optional(body, "k", int),
        method=_optional(body, "method", str),
        filters=filter_from_json(_optional(body, "filters", dict)),
    )  # fmt: skip


# --- chat completions -------------------------------------------------------------------------


@bp.post("/chat/completions")
def chat_completions() -> Response:
    body = _json_body()
    req = _chat_request(body)
    cid = oa.completion_id()
    task = housekeeping_task(last_user_message(req.messages))
    if task is not None:  # a title or tags request: no retrieval, no model
        text = answer_task(task)
        tokens = oa.usage([last_user_message(req.messages)], text)
        if not req.stream:
            return jsonify(oa.completion(cid, req.model.id, text, tokens))
        return _stream(_fixed_frames(cid, req, text, tokens))
    engine = current().engine
    q = _query(engine, req, body)
    retrieval = replace(q, question=retrieval_question(req.messages))
    history = prompt_history(req.messages)
    engine.store  # noqa: B018 - no store is a 404 before a stream starts, not an error frame
    if not req.stream:
        answer = engine.ask(q, context=engine.context(retrieval), history=history)
        tokens = oa.answer_usage(answer, history)
        return jsonify(oa.completion(cid, req.model.id, answer.answer, tokens, answer))
    return _stream(_answer_frames(engine, cid, req, q, retrieval, history))


def _stream(frames: Iterator[str]) -> Response:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(frames), mimetype="text/event-stream", headers=headers)


def _fixed_frames(cid: str, req: ChatRequest, text: str, tokens: dict[str, int]) -> Iterator[str]:
    model = req.model.id
    yield oa.sse(oa.chunk(cid, model, oa.delta(text, role="assistant")))
    yield oa.sse(oa.chunk(cid, model, oa.delta(finish="stop"), cited=[]))
    if req.include_usage:
        yield oa.sse(oa.chunk(cid, model, [], usage=tokens))
    yield oa.sse("[DONE]")


def _answer_frames(
    engine: Engine, cid: str, req: ChatRequest, q: Query, retrieval: Query, history: list[Message]
) -> Iterator[str]:
    """Role first (headers and a first byte go out before retrieval starts); once retrieved,
    one Open WebUI `source` event per passage and the `sources` extension; then the answer's
    tokens, the finish with `cited`, usage if asked; `[DONE]` always ends it, after an error
    frame if the answer failed on the way."""
    model = req.model.id
    yield oa.sse(oa.chunk(cid, model, oa.delta("", role="assistant")))
    try:
        t0 = time.perf_counter()
        ctx = engine.context(retrieval)
        hits = {h.chunk.id: h for h in ctx.hits}
        for ev in engine.stream(q, context=ctx, started=t0, history=history):
            if isinstance(ev, Retrieved):
                for s in ev.sources:
                    event = {"type": "source", "data": oa.webui_source(s, hits.get(s.chunk_id))}
                    yield oa.sse(oa.chunk(cid, model, [], event=event))
                sources = [shapes.source_json(s) for s in ev.sources]
                yield oa.sse(oa.chunk(cid, model, [], sources=sources))
            elif isinstance(ev, Token):
                yield oa.sse(oa.chunk(cid, model, oa.delta(ev.text)))
            elif isinstance(ev, Done):
                answer = ev.answer
                if not answer.sources:  # "I don't know": the text was never streamed
                    yield oa.sse(oa.chunk(cid, model, oa.delta(answer.answer)))
                yield oa.sse(oa.chunk(cid, model, oa.delta(finish="stop"), cited=answer.cited))
                if req.include_usage:
                    usage = oa.answer_usage(answer, history)
                    yield oa.sse(oa.chunk(cid, model, [], usage=usage))
    except RagError as e:
        yield oa.sse(openai_error_body(e.http_status, e.code, str(e)))
    except Exception:
        log.exception("chat completion stream failed")
        yield oa.sse(openai_error_body(500, "internal_error", "internal error while answering"))
    yield oa.sse("[DONE]")
