"""The LlamaIndex retriever over the demo corpus with the real e5 embedder, and the README's
LlamaIndex app run as written with the real models (e5 and the smoke GGUF), network shut."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import llama_index.core  # noqa: F401
except ImportError:  # tests/unit/test_llamaindex.py fails under CI instead
    pytest.skip("the llamaindex extra is not installed", allow_module_level=True)

from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

from ingest.embedding import Embedder
from rag.engine import Engine
from rag.integrations.llamaindex import RagRetriever
from rag.models.registry import MODELS, is_installed
from rag.settings import Settings
from tests.conftest import need
from tests.offline import shut_network
from tests.readme import python_block


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    shut_network(monkeypatch)


@pytest.fixture(scope="module")
def e5_engine(e5_demo_store: Path, real_embedder: Embedder) -> Iterator[Engine]:
    engine = Engine(Settings.from_env(store_dir=e5_demo_store), embedder=real_embedder)
    yield engine
    engine.close()


def test_nodes_are_the_engine_context_on_every_demo_question(
    e5_engine: Engine, demo_questions: list[dict[str, Any]]
) -> None:
    plain = RagRetriever(e5_engine, similarity_top_k=5)
    graph = RagRetriever(e5_engine, mode="graph", strategy="hybrid", similarity_top_k=5)
    found = []
    for i, q in enumerate(demo_questions):
        question = str(q["question"])
        nodes = plain.retrieve(question)
        assert [n.node.node_id for n in nodes] == [
            h.chunk.id for h in e5_engine.context(question, k=5).hits
        ]
        found.append(not q["source"] or q["source"] in {n.metadata["document"] for n in nodes})
        if i % 4:  # graph search with e5 takes seconds a question: a sample of them
            continue
        by_graph = asyncio.run(graph.aretrieve(question))
        hits = e5_engine.context(question, mode="graph", strategy="hybrid", k=5).hits
        assert [n.node.node_id for n in by_graph] == [h.chunk.id for h in hits]
    assert sum(found) >= len(found) - 1, found  # as test_demo_answers holds the engine to


def test_a_metadata_filter_keeps_to_the_slides(e5_engine: Engine) -> None:
    slides = MetadataFilters(filters=[MetadataFilter(key="source", value="*.pptx")])
    nodes = RagRetriever(e5_engine, filters=slides).retrieve("QLoRA")
    assert nodes and {n.metadata["document"] for n in nodes} == {"inference_deployment.pptx"}
    assert all(n.metadata["location"].startswith("slide ") for n in nodes)


def test_the_readme_example_with_the_real_models(
    e5_engine: Engine,
    models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    need(is_installed(MODELS["smollm2-135m"], models_dir), "model smollm2-135m is not installed")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        need(False, "llama-cpp-python is not installed")
    monkeypatch.chdir(e5_engine.settings.store_dir.parent)  # the example opens "./kb"
    # the smoke model, and a short answer: what is under test is the plumbing, not the prose
    monkeypatch.setenv("RAG_MODEL", "smollm2-135m")
    monkeypatch.setenv("RAG_MAX_ANSWER_TOKENS", "24")
    namespace: dict[str, Any] = {}
    exec(compile(python_block("### LlamaIndex"), "README.md", "exec"), namespace)
    namespace["retriever"].close()
    lines = capsys.readouterr().out.strip().splitlines()
    answer, sources = "\n".join(lines[:-4]), lines[-4:]  # the answer, then one line per node
    assert answer.strip() and all(float(line.split(" ")[0]) > 0 for line in sources)
    documents = [line.split(" ", 2)[1] for line in sources]
    assert set(documents) <= {d.name for d in e5_engine.documents()}
