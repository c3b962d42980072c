"""The LLM extractor: entities and relations as JSON constrained by a schema.

The schema (from pydantic models) goes to llama.cpp's JSON-schema grammar, so even a tiny
model cannot emit broken JSON; arrays and strings are bounded so a reply cannot run out of
tokens mid-object. The grammar guarantees syntax, not sense: every field is validated and
cleaned, relations must join two extracted entities, and a failed or empty reply leaves the
chunk to the fast extractor.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from graph.extract.base import TextGenerator
from graph.names import display_name, name_key
from graph.types import ChunkText, EntityMention, Extraction, RelationMention

log = logging.getLogger(__name__)


# Bounds keep replies short enough to finish within max_tokens. Names get 60 characters: at 30,
# Qwen cut "The Journal of Mathematical Physics" to "The Journal of Mathematical".
class _Entity(BaseModel):
    name: str = Field(max_length=60)
    type: str = Field(max_length=20)
    description: str = Field(max_length=80)


class _Relation(BaseModel):
    source: str = Field(max_length=60)
    target: str = Field(max_length=60)
    description: str = Field(max_length=80)
    keywords: list[str] = Field(max_length=2)
    # an enum, not ge/le: llama.cpp's grammar enforces enums but not numeric bounds
    strength: Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


class _Output(BaseModel):
    entities: list[_Entity] = Field(max_length=6)
    relations: list[_Relation] = Field(max_length=6)


SCHEMA: dict[str, Any] = _Output.model_json_schema()

PROMPTS = {
    "en": (
        "Extract a knowledge graph from the text. Entities: the important named things and "
        "technical concepts (name as written, a type such as person, organization, place, "
        "method, model, concept, and a one-sentence description). Relations: pairs of those "
        "entities that the text links, with a short description, up to 3 keywords and a "
        "strength from 1 to 10. Answer with JSON only."
    ),
    "zh": (
        "从文本中抽取知识图谱。实体：重要的命名对象和技术概念（名称按原文书写，类型如 人物、机构、地点、"
        "方法、模型、概念，以及一句话描述）。关系：文本中有联系的实体对，给出简短描述、最多 3 个关键词和"
        "1 到 10 的强度。只输出 JSON。"
    ),
}
GLEAN = {
    "en": "Some entities or relations may have been missed. Extract only the missing ones, as JSON.",
    "zh": "可能还有遗漏的实体或关系。只抽取遗漏的部分，输出 JSON。",
}


def _lang(text: str) -> str:
    cjk = len(re.findall(r"[\u3400-\u9fff]", text))
    return "zh" if cjk * 3 >= len(re.findall(r"[A-Za-z]", text)) and cjk else "en"


class LLMExtractor:
    name = "llm"

    def __init__(
        self,
        generator: TextGenerator,
        *,
        gleaning: int = 0,
        max_tokens: int = 700,
        max_items: int = 6,
    ) -> None:
        self.generator, self.gleaning, self.max_tokens = generator, gleaning, max_tokens
        # fewer items → a shorter reply that always fits `max_tokens`
        self.schema: dict[str, Any] = json.loads(json.dumps(SCHEMA))
        for key in ("entities", "relations"):
            self.schema["properties"][key]["maxItems"] = max_items

    def extract(self, chunks: Sequence[ChunkText]) -> list[Extraction]:
        return [self._one(c) for c in chunks]

    def _ask(self, messages: list[dict[str, str]]) -> _Output | None:
        reply = "".join(
            self.generator.stream(
                messages, max_tokens=self.max_tokens, temperature=0.0, json_schema=self.schema
            )
        )
        try:
            return _Output.model_validate(json.loads(reply))
        except (json.JSONDecodeError, ValidationError) as e:
            log.warning(
                "LLM extraction reply unusable (%s); the fast extractor's result is kept", e
            )
            return None

    def _one(self, chunk: ChunkText) -> Extraction:
        lang = _lang(chunk.text)
        messages = [
            {"role": "system", "content": PROMPTS[lang]},
            {"role": "user", "content": chunk.text},
        ]
        outputs: list[_Output] = []
        first = self._ask(messages)
        if first is not None:
            outputs.append(first)
            for _ in range(self.gleaning):
                messages += [
                    {"role": "assistant", "content": first.model_dump_json()},
                    {"role": "user", "content": GLEAN[lang]},
                ]
                more = self._ask(messages)
                if more is None or not more.entities:
                    break
                outputs.append(more)
        return _clean(chunk, outputs)


def _clean(chunk: ChunkText, outputs: list[_Output]) -> Extraction:
    """Keep entities with a real name, relations between two of them; drop duplicates."""
    entities: dict[str, EntityMention] = {}
    for out in outputs:
        for e in out.entities:
            name = display_name(e.name)
            if len(name_key(name)) >= 2:
                kind = display_name(e.type).lower() or "concept"
                entities.setdefault(
                    name_key(name), EntityMention(name, kind, display_name(e.description))
                )
    relations: dict[tuple[str, str], RelationMention] = {}
    for out in outputs:
        for r in out.relations:
            a, b = name_key(r.source), name_key(r.target)
            if a in entities and b in entities and a != b:
                relations.setdefault((a, b), RelationMention(
                    entities[a].name, entities[b].name, display_name(r.description),
                    tuple(display_name(k) for k in r.keywords if k.strip()), float(r.strength),
                ))  # fmt: skip
    return Extraction(chunk.chunk_id, list(entities.values()), list(relations.values()), "llm")
