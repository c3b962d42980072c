"""The OpenAI-compatible endpoint as its clients meet it: the official `openai` Python client
against a real `rag serve` on loopback with an API key (real embedder, scripted generator
endpoint): models, answers with and without streaming, sources, filters sent with
`extra_body`, a follow-up question, a front-end's title prompt, and a wrong key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from rag.modes.registry import MODES
from tests.conftest import DEMO
from tests.e2e.conftest import E2E_ANSWER, LiveServer

UPLOADS = {
    "finetuning_overview.md": "ml",
    "lora_qlora_zh.md": "ml",
    "gpu_memory_sizing.pdf": "infra",
}
QUESTION = [{"role": "user", "content": "What is QLoRA?"}]


@pytest.fixture(scope="module")
def server(keyed_live_server: LiveServer) -> LiveServer:
    """The keyed server with three demo files ingested, each with a `team`."""
    s = keyed_live_server
    auth = {"Authorization": f"Bearer {s.api_key}"}
    with httpx.Client(base_url=s.url, headers=auth, timeout=30) as http:
        for name, team in UPLOADS.items():
            with (DEMO / name).open("rb") as f:
                resp = http.post("/api/v1/documents", files={"file": (name, f)},
                                 data={"metadata": json.dumps({"team": team})})  # fmt: skip
            assert resp.status_code == 202, resp.text
            job = resp.json()["job"]["id"]
            deadline = time.monotonic() + 300
            while http.get(f"/api/v1/jobs/{job}").json()["state"] not in ("done", "failed"):
                assert time.monotonic() < deadline, f"{name} did not finish ingesting"
                time.sleep(0.3)
            assert http.get(f"/api/v1/jobs/{job}").json()["state"] == "done"
    return s


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.api_key, max_retries=0)
    yield c
    c.close()


def extra(obj: Any, name: str) -> Any:
    """An extension field the client keeps beside its typed ones."""
    return (obj.model_extra or {}).get(name)


def test_models_are_listed_one_per_mode_and_strategy(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == [i for name, spec in MODES.items()
                   for i in [name, *(f"{name}:{s}" for s in spec.strategies)]]  # fmt: skip
    assert client.models.retrieve("graph:ppr").owned_by == "rag-kg"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_an_answer_cites_its_sources(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="rag", messages=QUESTION)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == E2E_ANSWER
    assert resp.choices[0].finish_reason == "stop"
    sources = extra(resp, "sources")
    assert len(sources) >= 2 and extra(resp, "cited") == [1, 2]
    assert {Path(s["document"]).name for s in sources} <= set(UPLOADS)
    assert resp.usage is not None and resp.usage.completion_tokens > 0


def test_a_stream_brings_sources_before_the_first_token(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="rag", messages=QUESTION, stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )  # fmt: skip
    kinds, text, usage = [], [], None
    for chunk in stream:
        if extra(chunk, "event"):
            kinds.append("source")
            assert extra(chunk, "event")["type"] == "source"
        elif extra(chunk, "sources"):
            kinds.append("sources")
        elif chunk.choices and chunk.choices[0].delta.content:
            kinds.append("token")
            text.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(text).strip() == E2E_ANSWER
    first_token = kinds.index("token")
    assert set(kinds[:first_token]) == {"source", "sources"} and kinds[first_token - 1] == "sources"
    assert set(kinds[first_token:]) == {"token"} and len(text) > 5  # word by word
    assert usage is not None and usage.total_tokens > usage.completion_tokens > 0


def test_filters_travel_in_extra_body(client: openai.OpenAI) -> None:
    for team, names in (("infra", {"gpu_memory_sizing.pdf"}),
                        ("ml", {"finetuning_overview.md", "lora_qlora_zh.md"})):  # fmt: skip
        resp = client.chat.completions.create(
            model="rag", messages=QUESTION,  # type: ignore[arg-type]
            extra_body={"filters": {"metadata": {"team": team}}, "k": 8},
        )  # fmt: skip
        found = {Path(s["document"]).name for s in extra(resp, "sources")}
        assert found and found <= names, (team, found)


def test_a_follow_up_reaches_the_model_with_the_conversation(
    client: openai.OpenAI, server: LiveServer
) -> None:
    messages = [*QUESTION, {"role": "assistant", "content": E2E_ANSWER},
                {"role": "user", "content": "Why does that fit on one GPU?"}]  # fmt: skip
    before = len(server.llm.requests)
    resp = client.chat.completions.create(model="rag", messages=messages)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == E2E_ANSWER
    [sent] = server.llm.requests[before:]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][1]["content"] == "What is QLoRA?"
    assert "[1]" not in sent["messages"][2]["content"]  # old citation numbers are taken out
    assert "Why does that fit on one GPU?" in sent["messages"][3]["content"]


def test_a_title_prompt_is_answered_without_the_model(
    client: openai.OpenAI, server: LiveServer
) -> None:
    prompt = ('### Task:\nGenerate a concise, 3-5 word title.\n### Output:\nJSON format: '
              '{ "title": "your concise title here" }\n### Chat History:\n<chat_history>\n'
              "USER: What is QLoRA?\nASSISTANT: " + E2E_ANSWER + "\n</chat_history>")  # fmt: skip
    before = len(server.llm.requests)
    started = time.perf_counter()
    resp = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": prompt}]
    )
    assert time.perf_counter() - started < 2.0
    assert json.loads(resp.choices[0].message.content or "") == {"title": "What is QLoRA"}
    assert len(server.llm.requests) == before


def test_a_wrong_key_is_an_authentication_error(server: LiveServer) -> None:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as e:
            bad.models.list()
        assert e.value.status_code == 401 and e.value.code == "unauthorized"
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="rag", messages=QUESTION)  # type: ignore[arg-type]
