"""The `rag` command line end to end, in a subprocess, with the hashing embedder and a fake
OpenAI-compatible endpoint standing in for the model server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fake_openai import fake_openai

ROOT = Path(__file__).resolve().parents[2]


def rag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli.main", *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_help_lists_the_commands() -> None:
    out = rag("--help")
    assert out.returncode == 0
    for cmd in ("ingest", "ask", "docs", "delete", "models", "eval"):
        assert cmd in out.stdout


def test_ask_before_ingest_is_one_clear_error(tmp_path: Path) -> None:
    out = rag("ask", "what?", "--store", str(tmp_path / "kb"), env={"RAG_EMBEDDER": "hashing"})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"error: no store at {tmp_path / 'kb'}; run `rag ingest PATH --store {tmp_path / 'kb'}`"
    ]


def test_missing_generator_model_names_the_install_command(tmp_path: Path, demo_dir: Path) -> None:
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb"),
           "RAG_MODELS_DIR": str(tmp_path / "no-models")}  # fmt: skip
    assert rag("ingest", str(demo_dir / "finetuning_overview.md"), env=env).returncode == 0
    out = rag("ask", "What is LoRA?", env=env)
    assert out.returncode == 1
    assert "rag models install --only qwen2.5-1.5b" in out.stderr
    assert "Traceback" not in out.stderr


def test_ingest_ask_json_docs_delete(tmp_path: Path, demo_dir: Path) -> None:
    store = str(tmp_path / "kb")
    with fake_openai("QLoRA stores the base model in NF4 [1].") as (url, server):
        env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": store, "RAG_OPENAI_BASE_URL": url,
               "RAG_OPENAI_MODEL": "fake-model"}  # fmt: skip
        ing = rag("ingest", str(demo_dir), env=env)
        assert ing.returncode == 0, ing.stderr
        assert "10 added" in ing.stderr
        out = rag("ask", "QLoRA NF4 4-bit", "--json", "--k", "3", env=env)
        assert out.returncode == 0, out.stderr
        answer = json.loads(out.stdout)
        assert server.requests[0]["model"] == "fake-model"
    assert answer["answer"].startswith("QLoRA stores the base model in NF4 [1]")
    assert answer["cited"] == [1] and answer["mode"] == "rag" and answer["language"] == "en"
    assert len(answer["sources"]) == 3
    first = answer["sources"][0]
    assert set(first) == {
        "n",
        "chunk_id",
        "doc_id",
        "document",
        "title",
        "location",
        "score",
        "text",
    }
    assert first["n"] == 1 and first["text"] in server.requests[0]["messages"][1]["content"]

    docs = json.loads(rag("docs", "--json", env=env).stdout)
    assert len(docs) == 10
    deleted = rag("delete", "inference_deployment.pptx", env=env)
    assert deleted.returncode == 0 and "inference_deployment.pptx" in deleted.stdout
    assert len(json.loads(rag("docs", "--json", env=env).stdout)) == 9
    assert rag("delete", "inference_deployment.pptx", env=env).returncode == 1


def test_retrieve_only_filters_by_path(tmp_path: Path, demo_dir: Path) -> None:
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb")}
    assert rag("ingest", str(demo_dir), env=env).returncode == 0
    out = rag("ask", "QLoRA", "--retrieve-only", "--json", "--path", "*.pdf", env=env)
    sources = json.loads(out.stdout)["sources"]
    assert sources and all(s["document"].endswith(".pdf") for s in sources)
    assert all(s["location"].startswith("page ") for s in sources)


def test_models_lists_what_is_missing(tmp_path: Path) -> None:
    out = rag("models", "--json", env={"RAG_MODELS_DIR": str(tmp_path)})
    rows = json.loads(out.stdout)["models"]
    assert {r["key"] for r in rows} == {"qwen2.5-1.5b", "smollm2-135m", "embedder"}
    assert all(not r["installed"] and r["install"].startswith("rag models install") for r in rows)
