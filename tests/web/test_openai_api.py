"""The OpenAI-compatible API (/v1) through Flask's test client: model ids from the registry,
completions and their stream of chunks, Open WebUI's source events, the extension fields,
multi-turn retrieval, housekeeping prompts, errors in OpenAI's shape, the API key and the
cross-site guard.

Read-only tests share `demo_app` (the demo corpus, hashing embedder, scripted generator).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from ingest.embedding import HashingEmbedder
from rag.generation.scripted import ScriptedGenerator
from rag.modes.registry import MODES
from rag.prompting import UNKNOWN
from tests.web.conftest import ANSWER, make_app, make_engine_app, post_files, wait_job
from tests.web.test_api import PEARS, SOURCE_KEYS, FailingGenerator, one_doc_app

V1 = "/v1"
QUESTION = [{"role": "user", "content": "QLoRA 是什么？"}]
OPENAI_ERROR_KEYS = {"message", "type", "code", "param"}


def openai_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """Assert OpenAI's error shape; the error object, for tests that look further."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json, resp.headers.get("Content-Type")
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == OPENAI_ERROR_KEYS, body
    assert body["error"]["code"] == code and body["error"]["message"].strip(), body
    return dict(body["error"])


def frames(resp: Any) -> list[Any]:
    """The `data:` payloads of a stream, parsed; the closing `[DONE]` as the string itself."""
    assert resp.mimetype == "text/event-stream"
    out: list[Any] = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                out.append(data if data == "[DONE]" else json.loads(data))
    return out


def chat(client: FlaskClient, headers: dict[str, str] | None = None, **body: Any) -> Any:
    """POST /v1/chat/completions of QUESTION to `rag`, `body` overriding or adding fields."""
    return client.post(f"{V1}/chat/completions", headers=headers or {},
                       json={"model": "rag", "messages": QUESTION, **body})  # fmt: skip


class RecordingEmbedder(HashingEmbedder):
    """A hashing embedder that records the text of every query: what retrieval was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    def embed_query(self, text: str) -> np.ndarray:
        self.queries.append(text)
        return super().embed_query(text)


# --- models ---------------------------------------------------------------------------------


def test_models_are_the_modes_and_graph_strategies_of_the_registry(client: FlaskClient) -> None:
    body = client.get(f"{V1}/models").get_json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    expected = [i for name, spec in MODES.items()
                for i in [name, *(f"{name}:{s}" for s in spec.strategies)]]  # fmt: skip
    assert ids == expected and {"rag", "graph", "kag", "graph:ppr"} <= set(ids)
    for m in body["data"]:
        assert set(m) == {"id", "object", "created", "owned_by", "name"}
        assert m["object"] == "model" and isinstance(m["created"], int) and m["created"] > 0
        assert client.get(f"{V1}/models/{m['id']}").get_json() == m
    error = openai_error(client.get(f"{V1}/models/gpt-4"), 404, "model_not_found")
    assert error["param"] == "model" and error["type"] == "not_found_error"


# --- completions ----------------------------------------------------------------------------


def test_a_completion_is_the_answer_with_its_sources(demo_client: FlaskClient) -> None:
    body = chat(demo_client).get_json()
    assert body["object"] == "chat.completion" and body["model"] == "rag"
    assert body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": ANSWER}
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > usage["completion_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["sources"] and all(set(s) == SOURCE_KEYS for s in body["sources"])
    assert [s["n"] for s in body["sources"]] == list(range(1, len(body["sources"]) + 1))
    assert body["cited"] == [1]  # ANSWER cites [1]
    # the same sources as the REST API's answer to the same question
    rest = demo_client.post("/api/v1/ask", json={"question": "QLoRA 是什么？"}).get_json()
    assert body["sources"] == rest["sources"]


def test_token_estimates_count_words_marks_and_chinese_characters() -> None:
    from web.openai_shapes import estimate_tokens

    assert estimate_tokens("What is QLoRA? [1]") == 7  # What is QLoRA ? [ 1 ]
    assert estimate_tokens("QLoRA是一种方法。") == 7  # QLoRA 是 一 种 方 法 。
    assert estimate_tokens("  ") == 0


def test_the_stream_is_role_sources_tokens_finish_usage_done(demo_client: FlaskClient) -> None:
    got = frames(chat(demo_client, stream=True, stream_options={"include_usage": True}))
    assert got[-1] == "[DONE]"
    chunks = got[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "rag" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    events = [c for c in chunks if "event" in c]
    [listed] = [c for c in chunks if "sources" in c]
    assert events and len(events) == len(listed["sources"])
    assert all(c["choices"] == [] for c in [*events, listed])
    assert chunks.index(listed) == chunks.index(events[-1]) + 1
    tokens = [c for c in chunks[chunks.index(listed) + 1 :] if c["choices"]
              and c["choices"][0]["finish_reason"] is None]  # fmt: skip
    assert "".join(c["choices"][0]["delta"]["content"] for c in tokens) == ANSWER
    finish, usage = chunks[-2], chunks[-1]
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["cited"] == [1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0
    plain = frames(chat(demo_client, stream=True))
    assert "usage" not in plain[-2] and plain[-2]["choices"][0]["finish_reason"] == "stop"


def test_source_events_are_what_open_webui_reads(demo_client: FlaskClient) -> None:
    """One event per passage, in citation order, each with its own id (Open WebUI groups by
    `metadata[i].source`, and its n-th group is what `[n]` opens); pages 0-based."""
    body = {"filters": {"path_glob": "*.pdf"}, "stream": True}
    got = frames(demo_client.post(f"{V1}/chat/completions", json={
        "model": "rag", "messages": [{"role": "user", "content": "KV cache memory"}], **body}))  # fmt: skip
    events = [c["event"] for c in got if isinstance(c, dict) and "event" in c]
    [listed] = [c["sources"] for c in got if isinstance(c, dict) and "sources" in c]
    assert {e["type"] for e in events} == {"source"}
    ids = [e["data"]["metadata"][0]["source"] for e in events]
    assert ids == [s["chunk_id"] for s in listed] and len(set(ids)) == len(ids)
    for e, s in zip(events, listed, strict=True):
        data = e["data"]
        assert data["document"] == [s["text"]] and data["distances"] == [s["score"]]
        assert data["source"] == {"id": s["doc_id"], "name": "gpu_memory_sizing.pdf"}
        meta = data["metadata"][0]
        assert meta["name"] == f"[{s['n']}] gpu_memory_sizing.pdf, {s['location']}"
        assert s["location"].startswith(f"page {meta['page'] + 1}")


def test_extension_fields_choose_strategy_k_and_method(demo_client: FlaskClient) -> None:
    body = chat(demo_client, k=2, method="bm25").get_json()
    assert len(body["sources"]) == 2
    graph = demo_client.post(f"{V1}/chat/completions", json={
        "model": "graph:ppr", "messages": QUESTION, "k": 3}).get_json()  # fmt: skip
    rest = demo_client.post("/api/v1/ask", json={
        "question": "QLoRA 是什么？", "mode": "graph", "strategy": "ppr", "k": 3}).get_json()  # fmt: skip
    assert graph["sources"] == rest["sources"]
    same = demo_client.post(f"{V1}/chat/completions", json={
        "model": "graph", "strategy": "ppr", "messages": QUESTION, "k": 3}).get_json()  # fmt: skip
    assert same["sources"] == rest["sources"]


def test_usual_openai_fields_are_accepted_and_ignored(demo_client: FlaskClient) -> None:
    resp = chat(demo_client, temperature=0.7, top_p=0.9, max_tokens=5, max_completion_tokens=5,
                user="u1", presence_penalty=0, frequency_penalty=0, seed=1, n=1, stop=["\n"],
                logit_bias={}, tools=[], tool_choice="none", response_format={"type": "text"},
                stream_options=None, metadata={"chat_id": "x"}, parallel_tool_calls=False)  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["choices"][0]["message"]["content"] == ANSWER


def test_content_parts_and_system_messages_are_read(demo_client: FlaskClient) -> None:
    messages = [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": [{"type": "text", "text": "QLoRA"},
                                             {"type": "image_url", "image_url": {"url": "x"}},
                                             {"type": "text", "text": "是什么？"}]}]  # fmt: skip
    resp = demo_client.post(f"{V1}/chat/completions", json={"model": "rag", "messages": messages})
    assert resp.status_code == 200 and resp.get_json()["sources"]


def test_no_passage_is_i_dont_know_in_both_forms(demo_client: FlaskClient) -> None:
    nothing = {"filters": {"doc_ids": ["no-such-document"]}}
    body = chat(demo_client, **nothing).get_json()
    assert body["choices"][0]["message"]["content"] == UNKNOWN["zh"]
    assert body["sources"] == [] and body["cited"] == []
    got = frames(chat(demo_client, stream=True, **nothing))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in got[:-1]
                   if isinstance(c, dict) and c["choices"])  # fmt: skip
    assert text == UNKNOWN["zh"] and got[-1] == "[DONE]"


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
def teams_app(tmp_path: Path) -> Iterator[Flask]:
    """Two documents about pears, one per team (metadata), and one about apples."""
    a = make_engine_app(tmp_path)
    c = a.test_client()
    for name, team, text in (("infra.md", "infra", PEARS), ("web.md", "web", PEARS + b"Web."),
                             ("apples.md", "web", b"# Apples\n\nApple trees grow too.\n")):  # fmt: skip
        resp = post_files(c, [(name, text)], metadata=json.dumps({"team": team}))
        assert wait_job(a, resp.get_json()["job"]["id"])["state"] == "done"
    yield a
    a.extensions["rag"].close()


def test_filters_are_the_rest_apis(teams_app: Flask) -> None:
    c = teams_app.test_client()
    pears = [{"role": "user", "content": "Where do pear trees grow?"}]

    def documents(filters: dict[str, Any]) -> set[str]:
        body = c.post(f"{V1}/chat/completions", json={
            "model": "rag", "messages": pears, "filters": filters}).get_json()  # fmt: skip
        return {s["document"].rsplit("/", 1)[-1] for s in body["sources"]}

    assert documents({}) == {"infra.md", "web.md", "apples.md"}
    assert documents({"metadata": {"team": "infra"}}) == {"infra.md"}
    assert documents({"metadata": {"team": ["web"]}}) == {"web.md", "apples.md"}
    assert documents({"path_glob": "*apples*"}) == {"apples.md"}
    doc_id = c.get("/api/v1/documents?q=web.md").get_json()["documents"][0]["id"]
    assert documents({"doc_ids": [doc_id]}) == {"web.md"}
    got = frames(c.post(f"{V1}/chat/completions", json={
        "model": "rag", "messages": pears, "stream": True,
        "filters": {"metadata": {"team": "infra"}}}))  # fmt: skip
    names = {e["event"]["data"]["source"]["name"] for e in got if "event" in e}
    assert names == {"infra.md"}


# --- conversations --------------------------------------------------------------------------


def test_a_follow_up_retrieves_for_the_conversation_and_answers_after_it(tmp_path: Path) -> None:
    emb, gen = RecordingEmbedder(), ScriptedGenerator(ANSWER)
    app = make_engine_app(tmp_path, embedder=emb, generator=gen)
    try:
        c = app.test_client()
        assert wait_job(app, post_files(c, [("pears.md", PEARS)]).get_json()["job"]["id"])
        messages = [{"role": "user", "content": "Where do pear trees grow?"},
                    {"role": "assistant", "content": "In orchards [1]."},
                    {"role": "user", "content": "When do they flower?"}]  # fmt: skip
        emb.queries.clear()
        body = c.post(f"{V1}/chat/completions", json={"model": "rag", "messages": messages})
        assert body.status_code == 200, body.get_json()
        assert emb.queries == ["When do they flower? Where do pear trees grow?"]
        prompt = gen.calls[-1]
        assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"]
        assert prompt[1:3] == [{"role": "user", "content": "Where do pear trees grow?"},
                               {"role": "assistant", "content": "In orchards."}]  # fmt: skip
        assert "Question: When do they flower?" in prompt[-1]["content"]
    finally:
        app.extensions["rag"].close()


# --- housekeeping prompts -------------------------------------------------------------------

TITLE_TASK = ('### Task:\nGenerate a concise, 3-5 word title.\n### Output:\nJSON format: '
              '{ "title": "your concise title here" }\n### Chat History:\n<chat_history>\n'
              'USER: Where do pear trees grow?\nASSISTANT: In orchards [1].\n</chat_history>')  # fmt: skip
TAGS_TASK = TITLE_TASK.replace('{ "title": "your concise title here" }', '{ "tags": ["t1"] }')


def test_housekeeping_prompts_need_no_retrieval_no_model_and_no_store(tmp_path: Path) -> None:
    emb, gen = RecordingEmbedder(), ScriptedGenerator(ANSWER)
    app = make_engine_app(tmp_path, embedder=emb, generator=gen)  # its store does not exist
    try:
        c = app.test_client()
        for task, want in ((TITLE_TASK, {"title": "Where do pear trees grow"}),
                           (TAGS_TASK, {"tags": []})):  # fmt: skip
            messages = [{"role": "user", "content": task}]
            body = c.post(f"{V1}/chat/completions", json={"model": "rag", "messages": messages,
                                                          "stream": False}).get_json()  # fmt: skip
            assert json.loads(body["choices"][0]["message"]["content"]) == want
            assert body["sources"] == [] and body["cited"] == []
            got = frames(c.post(f"{V1}/chat/completions", json={
                "model": "kag", "messages": messages, "stream": True,
                "stream_options": {"include_usage": True}}))  # fmt: skip
            assert json.loads(got[0]["choices"][0]["delta"]["content"]) == want
            assert got[1]["choices"][0]["finish_reason"] == "stop" and "usage" in got[2]
            assert got[3:] == ["[DONE]"]
        assert emb.queries == [] and gen.calls == []
        # a real question over the same server does reach the engine (and finds no store)
        openai_error(chat(c), 404, "store_not_found")
    finally:
        app.extensions["rag"].close()


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"messages": QUESTION},  # no model
    {"model": "rag"},
    {"model": "rag", "messages": []},
    {"model": "rag", "messages": "hi"},
    {"model": "rag", "messages": [{"role": "robot", "content": "hi"}]},
    {"model": "rag", "messages": [{"role": "user", "content": 5}]},
    {"model": "rag", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
    {"model": "rag", "messages": [{"role": "user", "content": "  "}]},
    {"model": "rag", "messages": [{"role": "assistant", "content": "hello"}]},
    {"model": "rag", "messages": QUESTION, "stream": "yes"},
    {"model": "rag", "messages": QUESTION, "stream_options": "usage"},
    {"model": "rag", "messages": QUESTION, "n": 2},
    {"model": "rag", "messages": QUESTION, "k": "3"},
    {"model": "rag", "messages": QUESTION, "filters": []},
    {"model": "rag", "messages": QUESTION, "filters": {"team": "infra"}},
    {"model": "rag", "messages": QUESTION, "filters": {"metadata": {"team": []}}},
    {"model": "graph:ppr", "messages": QUESTION, "strategy": "local"},
])  # fmt: skip
def test_bad_bodies_are_openai_400s(demo_client: FlaskClient, body: dict[str, Any]) -> None:
    resp = demo_client.post(f"{V1}/chat/completions", json=body)
    if "model" not in body:
        openai_error(resp, 404, "model_not_found")
    else:
        assert openai_error(resp, 400, "bad_request")["type"] == "invalid_request_error"


def test_bad_values_unknown_models_and_bad_json(demo_client: FlaskClient) -> None:
    for extra in ({"k": 0}, {"k": 101}, {"method": "x"}, {"strategy": "x"}):
        openai_error(chat(demo_client, **extra), 422, "invalid_value")
    openai_error(chat(demo_client, model="gpt-4o"), 404, "model_not_found")
    for raw in ("{", "[1]", ""):
        resp = demo_client.post(f"{V1}/chat/completions", data=raw,
                                content_type="application/json")  # fmt: skip
        openai_error(resp, 400, "bad_request")
    openai_error(demo_client.get(f"{V1}/chat/completions"), 405, "method_not_allowed")
    openai_error(demo_client.get(f"{V1}/embeddings"), 404, "not_found")


def test_no_store_is_a_404_before_any_stream(client: FlaskClient) -> None:
    for stream in (False, True):
        openai_error(chat(client, stream=stream), 404, "store_not_found")


def test_a_failure_mid_stream_is_an_error_frame_then_done(tmp_path: Path) -> None:
    app = one_doc_app(tmp_path, generator=FailingGenerator())
    try:
        c = app.test_client()
        pears = [{"role": "user", "content": "pear"}]
        got = frames(c.post(f"{V1}/chat/completions",
                            json={"model": "rag", "messages": pears, "stream": True}))  # fmt: skip
        assert got[-1] == "[DONE]"
        assert got[-2] == {"error": {"message": "the model stopped answering",
                                     "type": "server_error", "code": "generation_failed",
                                     "param": None}}  # fmt: skip
        tokens = [c["choices"][0]["delta"]["content"] for c in got[1:-2] if c.get("choices")]
        assert tokens == ["Pear ", "trees "]
        resp = c.post(f"{V1}/chat/completions", json={"model": "rag", "messages": pears})
        assert openai_error(resp, 503, "generation_failed")["type"] == "server_error"
    finally:
        app.extensions["rag"].close()


# --- the API key and the cross-site guard ---------------------------------------------------


def test_the_api_key_is_a_bearer_token(tmp_path: Path) -> None:
    app = make_app(tmp_path, api_key="s3cret")
    try:
        c = app.test_client()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            for resp in (c.get(f"{V1}/models", headers=headers),
                         chat(c, headers=headers)):  # fmt: skip
                error = openai_error(resp, 401, "unauthorized")
                assert error["type"] == "authentication_error"
        key = {"Authorization": "Bearer s3cret"}
        assert c.get(f"{V1}/models", headers=key).status_code == 200
        openai_error(chat(c, headers=key), 404, "store_not_found")  # past the key: no store yet
    finally:
        app.extensions["rag"].close()


def test_a_browser_page_of_another_site_cannot_post(demo_client: FlaskClient) -> None:
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        error = openai_error(chat(demo_client, headers=headers), 403, "cross_site")
        assert error["type"] == "permission_error"
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    assert chat(demo_client, headers=same).status_code == 200
    assert chat(demo_client).status_code == 200  # an SDK or curl: no browser headers at all
