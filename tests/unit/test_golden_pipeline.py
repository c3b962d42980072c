"""The whole pipeline pinned: demo corpus → chunks → graph → every mode's prompt and trace.

Hashing embedder and scripted generators make every step deterministic, so the JSON under
tests/golden/ is what the engine does today. A refactor that changes behaviour shows up here as
a diff; a change meant to alter behaviour regenerates the file with

    GOLDEN_UPDATE=1 pytest tests/unit/test_golden_pipeline.py

and the diff goes into the commit for review. Chunk and document ids hash the absolute source
path, so they are written as `file#ordinal` and `file`, and paths as `<demo>/file`; the corpus is
ingested from a fixed copy so that ties between equal scores break the same way everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ingest.embedding import HashingEmbedder
from ingest.types import SearchFilter
from rag.engine import Engine
from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "pipeline.json"
CORPUS_COPY = Path(tempfile.gettempdir()) / "rag-golden-corpus"

KAG_PLAN = {
    "steps": [
        {
            "op": "retrieve",
            "question": "How many bytes per parameter does mixed-precision Adam need?",
        },
        {"op": "retrieve", "question": "How much KV cache does one 4096-token sequence need?"},
        {"op": "compute", "inputs": [1, 2], "expression": "#1 * 1000 + #2"},
        {"op": "follow", "entity": "GRPO"},
        {"op": "count", "inputs": [4]},
    ]
}
IRCOT_STEP = {"thought": "GRPO is a policy optimisation method.", "next_query": "GRPO group baseline", "done": False}  # fmt: skip
IRCOT_DONE = {"thought": "It drops the critic.", "next_query": "", "done": True}

# (name, question, ask keyword arguments, scripted replies)
CASES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("rag_hybrid", "什么是 QLoRA？它把冻结的基座模型量化成什么格式？", {}, ["NF4 [1]"]),
    ("rag_dense", "How much KV cache does a 7B model need for 4096 tokens?", {"method": "dense"}, ["2 GiB [1]"]),
    ("rag_bm25", "How much KV cache does a 7B model need for 4096 tokens?", {"method": "bm25"}, ["2 GiB [1]"]),
    ("rag_filtered", "What does GRPO stand for?", {"filters": "alignment"}, ["GRPO [1]"]),
    ("graph_local", "What does GRPO stand for?", {"mode": "graph", "strategy": "local", "k": 4}, ["Group Relative Policy Optimization [1]"]),
    ("graph_ppr", "What does GRPO stand for?", {"mode": "graph", "strategy": "ppr", "k": 4}, ["Group Relative Policy Optimization [1]"]),
    ("graph_hybrid", "What does GRPO stand for?", {"mode": "graph", "k": 4}, ["Group Relative Policy Optimization [1]"]),
    ("graph_global", "What are the main themes of these notes?", {"mode": "graph", "strategy": "global"},
     ['{"score": 8}', '{"score": 2}', '{"score": 5}', '{"score": 1}', '{"score": 0}', '{"score": 3}', "Fine-tuning and serving [1]."]),
    ("kag_plan", "How many bytes per parameter, and what does GRPO relate to?", {"mode": "kag", "k": 3},
     [json.dumps(KAG_PLAN), "16 bytes", "2 GiB", "16 bytes and DPO [1]."]),
    ("kag_ircot", "What does GRPO stand for?", {"mode": "kag"},
     ["not a plan", json.dumps(IRCOT_STEP), json.dumps(IRCOT_DONE), "GRPO [1]."]),
]  # fmt: skip


def _engine(store: Path, gen: ScriptedGenerator, env: dict[str, str] | None = None) -> Engine:
    settings = Settings.from_env(
        {"HOME": str(store.parent), **(env or {})},
        store_dir=store,
        embedder="hashing",
        translate_queries="off",  # a scripted reply is no translation (test_crosslingual.py)
        unsupported_answers="show",  # the scripted answers are not drawn from the passages
    )
    return Engine(settings, embedder=HashingEmbedder(), generator=gen)


@pytest.fixture(scope="module")
def demo_copy(demo_dir: Path) -> Path:
    """The demo corpus at a fixed path: ids hash the source path, and where ids tie (equal
    scores) their order decides, so the checkout's location must not enter them."""
    copy = CORPUS_COPY / "demo"
    shutil.rmtree(CORPUS_COPY, ignore_errors=True)
    shutil.copytree(demo_dir, copy)
    return copy


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory, demo_copy: Path) -> Path:
    store = tmp_path_factory.mktemp("golden") / "kb"
    with _engine(store, ScriptedGenerator("unused")) as engine:
        engine.ingest([demo_copy])
    return store


class _Labels:
    """Replaces location-dependent ids and paths by readable, stable labels."""

    def __init__(self, engine: Engine, demo_dir: Path) -> None:
        self.demo = str(demo_dir.resolve())
        self.names: dict[str, str] = {}
        for doc in engine.documents():
            self.names[doc.id] = doc.name
            for chunk in engine.chunks(doc.id):
                self.names[chunk.id] = f"{doc.name}#{chunk.ordinal}"

    def __call__(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self(v) for v in obj]
        if isinstance(obj, float):
            return round(obj, 4)
        if isinstance(obj, str):
            if obj in self.names:
                return self.names[obj]
            return obj.replace(self.demo, "<demo>")
        return obj


def _pipeline(store: Path, demo_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    with _engine(store, ScriptedGenerator("unused"), env) as engine:
        return _pipeline_of(engine, store, demo_dir, env)


def _pipeline_of(
    engine: Engine, store: Path, demo_dir: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    label = _Labels(engine, demo_dir)
    docs = {
        d.name: [
            {"ordinal": c.ordinal, "text_hash": c.text_hash, "page": c.page,
             "heading": " > ".join(c.heading_path), "kind": c.kind, "tokens": c.n_tokens}
            for c in engine.chunks(d.id)
        ]
        for d in engine.documents()
    }  # fmt: skip
    kg = engine.graph()
    top = sorted(kg.entities.values(), key=lambda e: (-len(e.chunk_ids), e.name))[:25]
    entities = [
        {"name": e.name, "type": e.type, "chunks": len(e.chunk_ids),
         "relations": len(kg.relations_of(e.id)), "aliases": list(e.aliases)}
        for e in top
    ]  # fmt: skip
    modes: dict[str, Any] = {}
    for name, question, kwargs, replies in CASES:
        gen = ScriptedGenerator(*replies)
        args = dict(kwargs)
        if args.get("filters") == "alignment":
            args["filters"] = SearchFilter(path_glob="*alignment*")
        with _engine(store, gen, env) as asking:
            answer = asking.ask(question, **args)
        modes[name] = label({
            "answer": answer.answer, "cited": answer.cited,
            "sources": [{"n": s.n, "chunk": s.chunk_id, "score": s.score, "location": s.location}
                        for s in answer.sources],
            "trace": answer.trace,
            "prompts": [_messages(m) for m in gen.calls],
        })  # fmt: skip
    stats = kg.stats()
    return {"chunks": docs, "graph": stats, "top_entities": entities, "modes": modes}


def _messages(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def test_pipeline_matches_the_golden_file(demo_store: Path, demo_copy: Path) -> None:
    got = json.loads(json.dumps(_pipeline(demo_store, demo_copy), ensure_ascii=False))
    if os.environ.get("GOLDEN_UPDATE") or not GOLDEN.exists():
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", "utf-8")
        if not os.environ.get("GOLDEN_UPDATE"):
            pytest.fail(f"wrote {GOLDEN}; review and commit it")
    want = json.loads(GOLDEN.read_text("utf-8"))
    for section in ("chunks", "graph", "top_entities"):
        assert got[section] == want[section], f"{section} changed"
    assert sorted(got["modes"]) == sorted(want["modes"])
    for name in want["modes"]:
        for part in ("prompts", "trace", "sources", "answer", "cited"):
            assert got["modes"][name][part] == want["modes"][name][part], f"{name}: {part} changed"


def test_golden_file_pins_something_real() -> None:
    """Guards the golden file itself: every mode called the generator and cited a source."""
    want = json.loads(GOLDEN.read_text("utf-8"))
    assert sum(len(c) for c in want["chunks"].values()) > 50
    assert len(want["top_entities"]) == 25
    for name, mode in want["modes"].items():
        assert mode["prompts"], name
        assert mode["sources"] and mode["trace"], name
        assert all(re.fullmatch(r"[^#]+#\d+", s["chunk"]) for s in mode["sources"]), name


def test_the_cluster_backend_runs_the_same_pipeline(
    tmp_path: Path, demo_copy: Path, pg_url: str, milvus_uri: str, cluster_name: str
) -> None:
    """The pipeline on PostgreSQL + Milvus: the same chunks, graph, entities and dense answers
    as the golden file. Keyword rankings are Milvus's own BM25 (docs/scale-out.md), so the modes
    that use them are only required to run and cite."""
    from ingest.cluster.store import ClusterTarget, drop

    env = {"RAG_BACKEND": "cluster", "RAG_POSTGRES_URL": pg_url, "RAG_MILVUS_URI": milvus_uri,
           "RAG_CLUSTER_NAME": cluster_name}  # fmt: skip
    store = tmp_path / "kb"
    try:
        with _engine(store, ScriptedGenerator("unused"), env) as engine:
            engine.ingest([demo_copy])
        got = json.loads(json.dumps(_pipeline(store, demo_copy, env), ensure_ascii=False))
    finally:
        drop(ClusterTarget(pg_url, milvus_uri, cluster_name))
    want = json.loads(GOLDEN.read_text("utf-8"))
    for section in ("chunks", "graph", "top_entities"):
        assert got[section] == want[section], f"{section} differs on the cluster backend"
    for part in ("prompts", "trace", "sources", "answer", "cited"):
        assert got["modes"]["rag_dense"][part] == want["modes"]["rag_dense"][part], part
    for name, mode in got["modes"].items():
        assert mode["prompts"] and mode["sources"] and mode["trace"], name
