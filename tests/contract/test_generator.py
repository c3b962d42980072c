"""The Generator contract: scripted fake, llama.cpp with the smoke model, OpenAI-compatible."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from rag.generation.base import Generator, Message, complete
from rag.generation.openai_compat import OpenAIGenerator
from rag.generation.scripted import ScriptedGenerator
from tests.fake_openai import fake_openai

MESSAGES: list[Message] = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(params=["scripted", "llama", "openai"])
def generator(request: pytest.FixtureRequest) -> Iterator[Generator]:
    if request.param == "scripted":
        yield ScriptedGenerator("Paris is the capital of France.")
    elif request.param == "llama":
        yield request.getfixturevalue("smoke_generator")
    else:
        with fake_openai("Paris is the capital of France.") as (url, _):
            yield OpenAIGenerator(url, "fake", context_tokens=4096)


def test_streams_non_empty_text(generator: Generator) -> None:
    pieces = list(generator.stream(MESSAGES, max_tokens=32))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip()


def test_max_tokens_bounds_the_output(generator: Generator) -> None:
    text = complete(generator, MESSAGES, max_tokens=4)
    assert 0 < generator.count_tokens(text) <= 12


def test_counts_tokens(generator: Generator) -> None:
    assert 0 < generator.count_tokens("hello") < generator.count_tokens("hello " * 20)
    assert generator.context_tokens >= 1024


def test_llama_json_schema_output_is_valid_json(smoke_generator: Generator) -> None:
    schema = {
        "type": "object", "required": ["city"],
        "properties": {"city": {"type": "string", "maxLength": 30}},
    }  # fmt: skip
    for question in ("Capital of France?", "法国的首都是哪里？"):
        msgs: list[Message] = [{"role": "user", "content": question + " Reply in JSON."}]
        out = json.loads(complete(smoke_generator, msgs, max_tokens=48, json_schema=schema))
        assert isinstance(out["city"], str)
