"""docs/python-api.md runs: every ```python block, in order, in one namespace, with the real
embedder and the small real generator, from a folder that holds the demo corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python-api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text("utf-8"))


def test_the_page_has_an_example_for_each_task() -> None:
    code = "\n".join(blocks())
    for call in ("Engine.open(", ".ingest(", ".ingest_text(", "metadata=", ".documents(",
                 ".retrieve(", "SearchFilter(", ".context(", ".ask(", ".stream(", ".graph(",
                 ".delete("):  # fmt: skip
        assert call in code, call


def test_every_example_runs_in_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rag.models.registry import MODELS, is_installed

    need(is_installed(MODELS["embedder"], models_dir), "the e5 embedder is not installed")
    need(is_installed(MODELS["smollm2-135m"], models_dir), "the smoke generator is not installed")
    (tmp_path / "corpora").symlink_to(ROOT / "corpora")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("RAG_MODEL", "smollm2-135m")  # the page's calls, a faster model
    monkeypatch.setenv("RAG_MAX_ANSWER_TOKENS", "48")
    namespace: dict[str, object] = {}
    for i, code in enumerate(blocks(), start=1):
        try:
            exec(compile(code, f"{DOC.name} block {i}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"block {i} of {DOC.name} failed:\n{code}") from e
    out = capsys.readouterr().out
    assert "2 added" in out and "notes/cluster-2026-11" in out
    assert "document_not_found" in out
    assert (tmp_path / "kb" / "store.sqlite").exists()
