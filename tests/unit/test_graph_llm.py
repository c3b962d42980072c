"""The LLM extractor: validated JSON, cleaning, and the fall-back to the fast extractor."""

from __future__ import annotations

import json
from pathlib import Path

from graph.builder import GraphBuilder, LLMBudget
from graph.extract.fast import FastExtractor
from graph.extract.llm import SCHEMA, LLMExtractor
from graph.store import SqliteGraphStore
from graph.types import ChunkText
from rag.generation.scripted import ScriptedGenerator

CHUNK = ChunkText(
    "c1", "d1", "QLoRA was proposed by Tim Dettmers. It trains LoRA adapters on a 4-bit base."
)
REPLY = {
    "entities": [
        {"name": "QLoRA", "type": "Method", "description": "4-bit fine-tuning"},
        {"name": "Tim Dettmers", "type": "person", "description": "author of QLoRA"},
        {"name": "x", "type": "concept", "description": "too short a name"},
    ],
    "relations": [
        {"source": "QLoRA", "target": "Tim Dettmers", "description": "proposed by",
         "keywords": ["author"], "strength": 9},
        {"source": "QLoRA", "target": "Nowhere", "description": "unknown target",
         "keywords": [], "strength": 3},
    ],
}  # fmt: skip


def test_valid_reply_is_cleaned() -> None:
    gen = ScriptedGenerator(json.dumps(REPLY))
    [ex] = LLMExtractor(gen).extract([CHUNK])
    assert [(e.name, e.type) for e in ex.entities] == [
        ("QLoRA", "method"),
        ("Tim Dettmers", "person"),
    ]
    [rel] = ex.relations
    assert (rel.source, rel.target, rel.keywords, rel.strength) == (
        "QLoRA",
        "Tim Dettmers",
        ("author",),
        9.0,
    )


def test_schema_bounds_every_list_and_string() -> None:
    extractor = LLMExtractor(ScriptedGenerator("{}"), max_items=3)
    assert extractor.schema["properties"]["entities"]["maxItems"] == 3
    defs = SCHEMA["$defs"]
    assert all("maxLength" in p for p in defs["_Entity"]["properties"].values())


def test_gleaning_adds_what_the_first_pass_missed() -> None:
    more = {
        "entities": [{"name": "LoRA", "type": "method", "description": "adapters"}],
        "relations": [],
    }
    gen = ScriptedGenerator(json.dumps(REPLY), json.dumps(more))
    [ex] = LLMExtractor(gen, gleaning=1).extract([CHUNK])
    assert {e.name for e in ex.entities} == {"QLoRA", "Tim Dettmers", "LoRA"}
    assert len(gen.calls) == 2 and gen.calls[1][-1]["content"].startswith("Some entities")


def test_broken_reply_falls_back_to_the_fast_extractor(tmp_path: Path) -> None:
    gen = ScriptedGenerator('{"entities": [{"name": "QLo')  # truncated JSON
    store = SqliteGraphStore(tmp_path)
    builder = GraphBuilder(store, FastExtractor(), llm=LLMBudget(LLMExtractor(gen), top=1))
    builder.sync({"d1"}, lambda _doc: [CHUNK])
    [ex] = store.extractions()
    assert ex.extractor == "fast" and {e.name for e in ex.entities} >= {"QLoRA", "Tim Dettmers"}
    assert len(gen.calls) == 1


def test_budget_sends_only_the_densest_chunks(tmp_path: Path) -> None:
    dense = ChunkText(
        "c2", "d1", "QLoRA, LoRA, DPO, RLHF and GRPO meet PPO and NF4 in one sentence."
    )
    gen = ScriptedGenerator(json.dumps(REPLY))
    builder = GraphBuilder(
        SqliteGraphStore(tmp_path), FastExtractor(), llm=LLMBudget(LLMExtractor(gen), top=1)
    )
    builder.sync({"d1"}, lambda _doc: [CHUNK, dense])
    assert len(gen.calls) == 1 and dense.text in gen.calls[0][-1]["content"]
