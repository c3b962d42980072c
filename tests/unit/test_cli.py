"""The `rag` command line end to end, in a subprocess, with the hashing embedder and a fake
OpenAI-compatible endpoint standing in for the model server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
        # translation off: the fake endpoint's first request must be the answer's
        env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": store, "RAG_OPENAI_BASE_URL": url,
               "RAG_OPENAI_MODEL": "fake-model", "RAG_TRANSLATE_QUERIES": "off"}  # fmt: skip
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


def test_a_bad_setting_is_usage_and_stops_before_the_store(tmp_path: Path, demo_dir: Path) -> None:
    store = tmp_path / "kb"
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(store), "RAG_GRAPH": "bogus"}
    out = rag("ingest", str(demo_dir), env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: RAG_GRAPH='bogus' is not a valid graph mode; choose one of fast, llm, off"
    ]
    assert not store.exists()
    out = rag("ask", "q", env={**env, "RAG_GRAPH": "off", "RAG_TOP_K": "five"})
    assert (out.returncode, out.stderr) == (2, "error: RAG_TOP_K='five' is not a whole number\n")


def test_verbose_adds_the_traceback_to_a_reported_error(tmp_path: Path) -> None:
    out = rag(
        "ask", "what?", "-v", "--store", str(tmp_path / "kb"), env={"RAG_EMBEDDER": "hashing"}
    )
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: no store at {tmp_path / 'kb'}")


def test_an_unexpected_exception_is_an_internal_error_not_usage(
    tmp_path: Path, demo_dir: Path
) -> None:
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb")}
    assert rag("ingest", str(demo_dir / "finetuning_overview.md"), env=env).returncode == 0
    target = str(tmp_path / "no-such-dir" / "g.graphml")  # nothing translates this OSError yet
    out = rag("graph", "export", "-o", target, env=env)
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: internal error: FileNotFoundError: ")
    assert line.endswith("(run with -v for the traceback)")
    verbose = rag("graph", "export", "-o", target, "-v", env=env)
    assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr
    last = verbose.stderr.strip().splitlines()[-1]
    assert last.startswith("error: internal error: FileNotFoundError: ") and "-v" not in last


@pytest.mark.skipif(
    importlib.util.find_spec("unstructured") is not None, reason="unstructured is installed"
)
def test_a_missing_parser_backend_stops_the_batch_with_one_message(
    tmp_path: Path, demo_dir: Path
) -> None:
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb")}
    out = rag("ingest", str(demo_dir), "--parser", "unstructured", env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert [line for line in lines if "error" in line or "skipped" in line] == [
        "error: the 'unstructured' parser is not installed: pip install 'rag-kg[unstructured]'"
    ]
    assert not (tmp_path / "kb").exists()  # it failed before creating a store


def test_choice_flags_read_the_literal_types() -> None:
    import argparse

    from rag.choices import FUSIONS, GRAPH_MODES, PARSERS, RETRIEVAL_METHODS
    from rag.cli.main import _parser

    want = {"--parser": PARSERS, "--graph": GRAPH_MODES, "--retrieval": RETRIEVAL_METHODS,
            "--fusion": FUSIONS}  # fmt: skip
    [sub] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    seen = set()
    for name, command in sub.choices.items():
        for action in command._actions:
            for flag in set(action.option_strings) & set(want):
                assert action.choices == want[flag], f"rag {name} {flag}"  # the tuple, not a copy
                seen.add((name, flag))
    assert {("ingest", "--parser"), ("ingest", "--graph"), ("bench", "--graph"),
            ("ask", "--retrieval"), ("eval", "--retrieval"), ("eval", "--fusion")} <= seen  # fmt: skip


def test_a_second_writer_waits_then_fails_with_one_line(tmp_path: Path, demo_dir: Path) -> None:
    from filelock import FileLock

    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb"), "RAG_GRAPH": "off"}
    doc = str(demo_dir / "finetuning_overview.md")
    assert rag("ingest", doc, env=env).returncode == 0
    with FileLock(str(tmp_path / "kb" / ".write.lock")):  # another writer holds the store
        out = rag("delete", "finetuning_overview.md", "--wait", "0.5", env=env)
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: another process is writing to") and "waited 0.5 s" in line
    assert len(json.loads(rag("docs", "--json", env=env).stdout)) == 1  # nothing was deleted


def test_metadata_given_at_ingest_is_listed_and_filters_with_where(
    tmp_path: Path, demo_dir: Path
) -> None:
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb")}
    pdfs = [str(p) for p in demo_dir.glob("*.pdf")]
    assert rag("ingest", *pdfs, "--meta", "team=ml", "--meta", "年份=2024", env=env).returncode == 0
    assert rag("ingest", str(demo_dir / "inference_deployment.pptx"), "--meta", "team=infra",
               env=env).returncode == 0  # fmt: skip
    listed = json.loads(rag("docs", "--json", "--where", "team=infra", env=env).stdout)
    assert [d["name"] for d in listed] == ["inference_deployment.pptx"]
    assert listed[0]["metadata"] == {"team": "infra"}
    assert "[team=ml 年份=2024]" in rag("docs", env=env).stdout
    out = rag("ask", "QLoRA", "--retrieve-only", "--json", "--where", "team=ml", env=env)
    sources = json.loads(out.stdout)["sources"]
    assert sources and all(s["document"].endswith(".pdf") for s in sources)
    both = rag("ask", "QLoRA", "--retrieve-only", "--json", "--k", "20",
               "--where", "team=ml", "--where", "team=infra", env=env)  # fmt: skip
    assert {s["document"][-4:] for s in json.loads(both.stdout)["sources"]} == {".pdf", "pptx"}
    none = rag("ask", "QLoRA", "--retrieve-only", "--json", "--where", "team=ml",
               "--where", "年份=1999", env=env)  # fmt: skip
    assert json.loads(none.stdout)["sources"] == []
    bad = rag("ask", "QLoRA", "--where", "team", env=env)
    assert bad.returncode == 2 and "where takes key=value" in bad.stderr
    twice = rag("ingest", *pdfs, "--meta", "a=1", "--meta", "a=2", env=env)
    assert twice.returncode == 2 and "--meta a is given twice" in twice.stderr


def test_ask_marks_an_unsupported_answer_and_withholds_it(tmp_path: Path, demo_dir: Path) -> None:
    store = str(tmp_path / "kb")
    with fake_openai("Habana Labs manufactures it in Haifa [1].") as (url, _):
        env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": store, "RAG_OPENAI_BASE_URL": url,
               "RAG_OPENAI_MODEL": "fake-model", "RAG_TRANSLATE_QUERIES": "off"}  # fmt: skip
        assert rag("ingest", str(demo_dir / "finetuning_overview.md"), env=env).returncode == 0
        out = rag("ask", "Which company manufactures the Gaudi 3 accelerator?", env=env)
        as_json = rag("ask", "Which company manufactures the Gaudi 3?", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert "Checked against the sources: 0 of 1 sentences supported" in out.stdout
    assert "✗ Habana Labs manufactures it in Haifa [1].  (no passage supports it)" in out.stdout
    assert "Withheld: no passage supports this answer. I don't know" in out.stdout
    answer = json.loads(as_json.stdout)
    assert answer["answer"].startswith("I don't know") and answer["support"] == 0.0
    assert answer["sentences"][0]["supported"] is False
