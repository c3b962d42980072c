"""Schema-constrained extraction with a real (tiny) model: the reply is always valid JSON."""

from __future__ import annotations

import json

from graph.extract.llm import LLMExtractor, _Output
from rag.generation.base import Generator, complete


def test_smoke_model_returns_schema_valid_json(smoke_generator: Generator) -> None:
    extractor = LLMExtractor(smoke_generator, max_items=2, max_tokens=400)
    for text in (
        "QLoRA was proposed by Tim Dettmers. It trains LoRA adapters on a 4-bit base model.",
        "鲁迅原名周树人，1881年出生于浙江绍兴，后来在北京大学任教。",
    ):
        messages = [{"role": "system", "content": "Extract entities and relations as JSON."},
                    {"role": "user", "content": text}]  # fmt: skip
        reply = complete(smoke_generator, messages, max_tokens=400, json_schema=extractor.schema)  # type: ignore[arg-type]
        parsed = _Output.model_validate(json.loads(reply))
        assert len(parsed.entities) <= 2 and len(parsed.relations) <= 2
