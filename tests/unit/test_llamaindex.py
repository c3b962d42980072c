"""The LlamaIndex integration against the real llama-index-core, over the engine's fakes (the
hashing embedder, a scripted generator), with the network shut: LlamaIndex's defaults would
reach OpenAI or download tokenizer data, and nothing here may."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import llama_index.core  # noqa: F401
except ImportError:
    if os.environ.get("CI"):  # the set-up installs the extra: a skip there would hide a bug
        raise
    pytest.skip("the llamaindex extra is not installed", allow_module_level=True)

from llama_index.core import Document
from llama_index.core import Settings as LlamaSettings
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload, LlamaDebugHandler
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore
from llama_index.core.vector_stores import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from ingest.embedding import HashingEmbedder
from ingest.errors import ConfigError, UsageError
from ingest.types import SearchFilter
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.integrations.llamaindex import (
    RagLLM,
    RagRetriever,
    ingest_documents,
    to_search_filter,
)
from rag.settings import Settings
from tests.fake_openai import fake_openai
from tests.offline import shut_network
from tests.readme import python_block

ROOT = Path(__file__).resolve().parents[2]
REPLY = "QLoRA keeps the frozen base model in 4-bit NF4 [1]."


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    shut_network(monkeypatch)


def _settings(store: Path) -> Settings:
    return Settings.from_env({"HOME": str(store.parent)}, store_dir=store, embedder="hashing")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    store = tmp_path_factory.mktemp("llamaindex") / "kb"  # "./kb", as the README's example
    with Engine(_settings(store), embedder=HashingEmbedder()) as engine:
        assert engine.ingest([demo_dir]).count("added") == 10
    return store


@pytest.fixture
def engine(demo_store: Path) -> Iterator[Engine]:
    with Engine(
        _settings(demo_store), embedder=HashingEmbedder(), generator=ScriptedGenerator(REPLY)
    ) as engine:
        yield engine


def _ids(nodes: list[NodeWithScore]) -> list[str]:
    return [n.node.node_id for n in nodes]


# --- retrieval ------------------------------------------------------------------------------


def test_nodes_are_the_engine_context_in_its_order(
    engine: Engine, demo_questions: list[dict[str, Any]]
) -> None:
    retriever = RagRetriever(engine, similarity_top_k=4)
    for q in demo_questions:
        question = str(q["question"])
        nodes = retriever.retrieve(question)
        hits = engine.context(question, k=4).hits
        assert _ids(nodes) == [h.chunk.id for h in hits] and len(hits) == 4
        for node, hit in zip(nodes, hits, strict=True):
            assert node.score == hit.score
            assert node.node.get_content() == hit.chunk.text
            assert node.node.ref_doc_id == hit.document.id
            meta = node.node.metadata
            assert meta["document"] == hit.document.name and meta["source"] == hit.document.source
            assert meta["doc_id"] == hit.document.id and meta["chunk_id"] == hit.chunk.id
            assert meta["title"] == hit.document.title and meta["mode"] == "rag"
            assert meta["location"] == hit.location
            assert meta.get("page") == hit.chunk.page


def test_a_pdf_node_has_its_page_and_the_llm_sees_only_where_it_is(engine: Engine) -> None:
    retriever = RagRetriever(engine, similarity_top_k=5)
    nodes = retriever.retrieve("KV cache size for one 4096-token sequence of a 7B model")
    pdf = next(n for n in nodes if n.node.metadata["document"] == "gpu_memory_sizing.pdf")
    meta = pdf.node.metadata
    assert isinstance(meta["page"], int) and meta["location"] == f"page {meta['page']}"
    shown = pdf.node.get_content(metadata_mode=MetadataMode.LLM)
    assert shown.startswith("document: gpu_memory_sizing.pdf\ntitle: ")
    assert f"location: page {meta['page']}" in shown
    for hidden in (meta["chunk_id"], meta["doc_id"], meta["source"], "mode:"):
        assert hidden not in shown
    embedded = pdf.node.get_content(metadata_mode=MetadataMode.EMBED)
    assert meta["title"] in embedded and meta["chunk_id"] not in embedded


@pytest.mark.parametrize(
    ("mode", "strategy"), [("rag", None), ("graph", "local"), ("graph", "ppr"), ("kag", None)]
)
def test_every_mode_returns_its_context_marked_with_it(
    engine: Engine, mode: Any, strategy: Any
) -> None:
    question = "What does GRPO stand for?"
    retriever = RagRetriever(engine, mode=mode, strategy=strategy, similarity_top_k=3)
    nodes = retriever.retrieve(question)
    hits = engine.context(question, mode=mode, strategy=strategy, k=3).hits
    assert nodes and _ids(nodes) == [h.chunk.id for h in hits]
    assert {n.node.metadata["mode"] for n in nodes} == {mode}


def test_async_matches_sync_and_leaves_the_event_loop_free(engine: Engine) -> None:
    retriever = RagRetriever(engine, mode="graph", strategy="hybrid")
    question = "How much memory does the KV cache need?"

    async def main() -> tuple[list[NodeWithScore], int]:
        done, ticks = False, 0

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        tick = asyncio.create_task(ticker())
        nodes = await retriever.aretrieve(question)
        seen, done = ticks, True  # ticks while retrieval ran: 0 if it blocked the loop
        await tick
        return nodes, seen

    nodes, ticks = asyncio.run(main())
    assert _ids(nodes) == _ids(retriever.retrieve(question)) and nodes
    assert ticks > 0


def test_the_apps_global_callbacks_see_our_retrievals(engine: Engine) -> None:
    debug = LlamaDebugHandler()
    before = LlamaSettings.callback_manager
    LlamaSettings.callback_manager = CallbackManager([debug])
    try:
        nodes = RagRetriever(engine, similarity_top_k=2).retrieve("What is DPO?")
    finally:
        LlamaSettings.callback_manager = before
    [(_, end)] = debug.get_event_pairs(CBEventType.RETRIEVE)
    assert _ids(end.payload[EventPayload.NODES]) == _ids(nodes) and len(nodes) == 2


def test_bad_choices_raise_when_the_retriever_is_built(engine: Engine) -> None:
    with pytest.raises(ConfigError):
        RagRetriever(engine, mode="vector")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        RagRetriever(engine, mode="graph", strategy="nearest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        RagRetriever(engine, similarity_top_k=0)


# --- inside a LlamaIndex query engine ----------------------------------------------------------


def test_a_query_engine_answers_from_our_nodes_with_our_generator(engine: Engine) -> None:
    retriever = RagRetriever(engine, similarity_top_k=3)
    query_engine = RetrieverQueryEngine.from_args(retriever, llm=RagLLM(engine))
    question = "What does QLoRA quantize the frozen base model to?"
    response = query_engine.query(question)
    assert str(response) == REPLY
    assert _ids(response.source_nodes) == _ids(retriever.retrieve(question))
    prompt = engine.generator.calls[-1][-1]["content"]  # type: ignore[attr-defined]
    first = response.source_nodes[0].node
    assert first.get_content() in prompt and f"document: {first.metadata['document']}" in prompt
    assert question in prompt and first.metadata["chunk_id"] not in prompt


def test_a_streaming_query_engine_streams_our_generator(engine: Engine) -> None:
    retriever = RagRetriever(engine, similarity_top_k=2)
    query_engine = RetrieverQueryEngine.from_args(retriever, llm=RagLLM(engine), streaming=True)
    response = query_engine.query("What is QLoRA?")
    tokens = list(response.response_gen)  # type: ignore[union-attr]
    assert len(tokens) > 1 and "".join(tokens) == REPLY


def test_the_readme_example_runs_as_written(
    demo_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = python_block("### LlamaIndex")
    swap = [line for line in code.splitlines() if "RagRetriever.from_store(" in line]
    assert swap == ['retriever = RagRetriever.from_store("./kb", similarity_top_k=4)']
    monkeypatch.chdir(demo_store.parent)
    with fake_openai(REPLY) as (url, server):
        for name, value in {"RAG_EMBEDDER": "hashing", "RAG_OPENAI_BASE_URL": url,
                            "RAG_OPENAI_MODEL": "scripted"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        namespace: dict[str, Any] = {}
        exec(compile(code, "README.md", "exec"), namespace)
        namespace["retriever"].close()
    answer, *sources = capsys.readouterr().out.splitlines()
    assert answer.strip() == REPLY and len(sources) == 4
    names = {p.name for p in (ROOT / "corpora" / "demo").iterdir()}
    assert all(line.split(" ", 2)[1] in names for line in sources)
    assert "QLoRA quantize" in server.requests[-1]["messages"][-1]["content"]


# --- filters -----------------------------------------------------------------------------------

DOCS = [
    ("lora-en", "LoRA trains low-rank adapters; QLoRA keeps the base model in 4-bit NF4.",
     {"team": "infra", "lang": "en", "year": 2024, "title": "LoRA notes", "reviewed": True}),
    ("lora-zh", "QLoRA 把冻结的基座模型量化成 4-bit NF4 格式，再训练 LoRA。",
     {"team": "research", "lang": "zh", "year": 2023}),
    ("dpo-en", "DPO learns from preference pairs; unlike QLoRA it changes no quantization.",
     {"team": "infra", "lang": "en", "year": 2023, "tags": ["alignment", "rlhf"]}),
]  # fmt: skip


@pytest.fixture
def doc_engine(fake_engine: Engine) -> Engine:
    docs = [Document(text=text, id_=key, metadata=meta) for key, text, meta in DOCS]
    report = ingest_documents(fake_engine, docs)
    assert report.count("added") == 3 and not report.failed
    return fake_engine


def _found(engine: Engine, filters: MetadataFilters) -> set[str]:
    """The documents (LlamaIndex ids) a filtered retriever returns for "QLoRA NF4"."""
    nodes = RagRetriever(engine, similarity_top_k=10, filters=filters).retrieve("QLoRA NF4")
    return {n.node.metadata["document"].removeprefix("llamaindex:") for n in nodes}


def _where(*filters: MetadataFilter | MetadataFilters, condition: str = "and") -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=FilterCondition(condition))


def _f(key: str, value: Any, op: str = "==") -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=FilterOperator(op))


def test_metadata_filters_select_documents(doc_engine: Engine) -> None:
    assert _found(doc_engine, _where()) == {"lora-en", "lora-zh", "dpo-en"}
    assert _found(doc_engine, _where(_f("team", "infra"))) == {"lora-en", "dpo-en"}
    assert _found(doc_engine, _where(_f("team", "infra"), _f("year", 2023))) == {"dpo-en"}
    assert _found(doc_engine, _where(_f("lang", ["zh", "fr"], "in"))) == {"lora-zh"}
    assert _found(doc_engine, _where(_f("reviewed", "true"))) == {"lora-en"}
    either = _where(_f("year", 2024), _f("year", 2023), condition="or")
    assert _found(doc_engine, either) == {"lora-en", "lora-zh", "dpo-en"}
    nested = _where(_f("team", "infra"), _where(_f("lang", "zh"), _f("lang", "en"), condition="or"))
    assert _found(doc_engine, nested) == {"lora-en", "dpo-en"}


def test_filters_on_document_ids_and_paths(doc_engine: Engine) -> None:
    ids = {d.source.removeprefix("llamaindex:"): d.id for d in doc_engine.documents()}
    assert _found(doc_engine, _where(_f("doc_id", ids["lora-zh"]))) == {"lora-zh"}
    some = _where(_f("ref_doc_id", [ids["lora-en"], ids["dpo-en"]], "in"))
    assert _found(doc_engine, some) == {"lora-en", "dpo-en"}
    assert _found(doc_engine, _where(_f("source", "llamaindex:lora-*"))) == {"lora-en", "lora-zh"}
    assert _found(doc_engine, _where(_f("document", "llamaindex:dpo-en"))) == {"dpo-en"}


def test_metadata_filters_become_one_search_filter() -> None:
    flt = to_search_filter(
        _where(_f("document_id", ["a1", "b2"], "in"), _f("path", "*.pdf"), _f("year", 2024),
               _where(_f("lang", "en"), _f("lang", ["zh", "en"], "in"), condition="or"))
    )  # fmt: skip
    assert flt == SearchFilter(("a1", "b2"), "*.pdf", (("year", "2024"), ("lang", "en"), ("lang", "zh")))  # fmt: skip
    assert to_search_filter(_where()) is None and to_search_filter(None) is None
    ours = SearchFilter(path_glob="*.md")
    assert to_search_filter(ours) is ours


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        (_where(_f("team", "infra", "!=")), "NE ('!=') on 'team'"),
        (_where(_f("year", 2023, ">")), "GT ('>') on 'year'"),
        (_where(_f("team", ["infra"], "nin")), "NIN ('nin') on 'team'"),
        (_where(_f("title", "LoRA", "text_match")), "TEXT_MATCH"),
        (_where(_f("team", "infra"), _f("lang", "en"), condition="or"), "OR across different keys (lang, team)"),
        (_where(_f("team", "infra"), condition="not"), "FilterCondition.NOT"),
        (_where(_f("team", "infra"), _f("team", "research")), "'team' is filtered twice under AND"),
        (_where(_f("page", 2)), "cannot filter on 'page'"),
        (_where(_f("team", ["infra", "research"])), "EQ takes one value"),
        (_where(_f("path", "*.md"), _f("source", "*.pdf")), "'path' is filtered twice"),
        (_where(_f("source", ["*.md", "*.pdf"], "in")), "one path glob at most"),
    ],
)  # fmt: skip
def test_filters_it_cannot_honour_raise_naming_what(
    engine: Engine, filters: MetadataFilters, named: str
) -> None:
    with pytest.raises(UsageError) as raised:
        RagRetriever(engine, filters=filters)
    assert named in str(raised.value)


# --- ingesting LlamaIndex Documents ---------------------------------------------------------


def test_documents_keep_title_and_metadata_and_reingest_is_a_no_op(
    fake_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [Document(text=text, id_=key, metadata=meta) for key, text, meta in DOCS]
    with caplog.at_level(logging.WARNING, "rag.integrations.llamaindex"):
        assert ingest_documents(fake_engine, docs).count("added") == 3
    assert "llamaindex:dpo-en: metadata 'tags' dropped" in caplog.text
    stored = {d.source: d for d in fake_engine.documents()}
    lora = stored["llamaindex:lora-en"]
    assert lora.title == "LoRA notes" and stored["llamaindex:lora-zh"].title == "llamaindex:lora-zh"
    assert dict(lora.metadata) == {"team": "infra", "lang": "en", "year": "2024",
                                   "title": "LoRA notes", "reviewed": "true"}  # fmt: skip
    assert "tags" not in stored["llamaindex:dpo-en"].metadata

    generation = fake_engine.store.chunks.generation()
    assert ingest_documents(fake_engine, docs).count("unchanged") == 3
    assert fake_engine.store.chunks.generation() == generation

    changed = Document(
        text="DPO needs no reward model at all.", id_="dpo-en", metadata={"team": "infra"}
    )
    assert [r.status for r in ingest_documents(fake_engine, [changed]).results] == ["updated"]
    assert len(fake_engine.documents()) == 3
    nodes = RagRetriever(fake_engine, filters=_where(_f("document", "llamaindex:dpo-en"))).retrieve(
        "DPO"
    )
    assert [n.node.get_content() for n in nodes] == ["DPO needs no reward model at all."]
    assert nodes[0].node.metadata["team"] == "infra"  # a document's own metadata rides along


def test_a_document_without_text_fails_and_the_rest_ingests(fake_engine: Engine) -> None:
    docs = [Document(text="  ", id_="blank"), Document(text="LoRA.", id_="ok")]
    report = ingest_documents(fake_engine, docs)
    assert [(r.source, r.status) for r in report.results] == [
        ("llamaindex:blank", "failed"), ("llamaindex:ok", "added")
    ]  # fmt: skip
    assert report.failed[0].error == "llamaindex:blank: no text"
    assert [d.source for d in fake_engine.documents()] == ["llamaindex:ok"]
