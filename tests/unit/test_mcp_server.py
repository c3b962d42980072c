"""The MCP server through a real client session of the same SDK, in process: JSON-RPC over the
SDK's in-memory streams (the initialize handshake desktop clients use), over an engine with the
hashing embedder and a scripted generator on the demo corpus, documents tagged with metadata."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from graph.names import name_key
from ingest.embedding import HashingEmbedder
from ingest.errors import UsageError
from ingest.types import Chunk
from rag.choices import MODE_NAMES
from rag.engine import Engine
from rag.filters import filter_from_json
from rag.generation.scripted import ScriptedGenerator
from rag.integrations.mcp_resources import reading_text
from rag.integrations.mcp_server import RagMCPServer, build_server
from rag.settings import Settings

ANSWER = "The KV cache of one 4096-token sequence takes 2 GiB [1]."
INFRA = ["gpu_memory_sizing.pdf", "inference_deployment.pptx", "distributed_training_gb18030.txt"]
KV_QUESTION = (
    "How much KV cache does a Llama-2-7B style model (32 layers, hidden size 4096, FP16) "
    "need for a single 4096-token sequence?"
)
T = TypeVar("T")


def _engine(store: Path, gen: ScriptedGenerator | None = None) -> Engine:
    settings = Settings.from_env(
        {"HOME": str(store.parent)}, store_dir=store, embedder="hashing", translate_queries="off"
    )
    return Engine(settings, embedder=HashingEmbedder(), generator=gen or ScriptedGenerator(ANSWER))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    """The demo corpus, the infra documents tagged team=infra and the rest team=research."""
    root = tmp_path_factory.mktemp("mcp") / "kb"
    files = sorted(p for p in demo_dir.iterdir() if p.suffix not in (".jsonl", "") and p.is_file())
    with _engine(root) as engine:
        engine.ingest([p for p in files if p.name in INFRA], metadata={"team": "infra"})
        engine.ingest([p for p in files if p.name not in INFRA], metadata={"team": "research"})
    return root


@pytest.fixture
def engine(store: Path) -> Iterator[Engine]:
    with _engine(store) as e:
        yield e


@pytest.fixture
def server(engine: Engine) -> RagMCPServer:
    return build_server(engine)


def session(server: RagMCPServer, use: Callable[[Client], Awaitable[T]], mode: str = "legacy") -> T:
    async def main() -> T:
        with anyio.fail_after(60):
            async with Client(server, mode=mode) as client:
                return await use(client)

    return anyio.run(main)


def call(server: RagMCPServer, tool: str, **arguments: Any) -> CallToolResult:
    return session(server, lambda c: c.call_tool(tool, arguments))


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error and result.structured_content is None
    assert len(result.content) == 1
    text: str = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text
    return text


# --- what the server offers ------------------------------------------------------------------


def test_tools_are_listed_with_input_and_output_schemas(server: RagMCPServer) -> None:
    listed = session(server, lambda c: c.list_tools()).tools
    tools = {t.name: t for t in listed}
    assert set(tools) == {"search", "ask", "list_documents", "get_chunk", "graph_neighbors"}
    for t in listed:
        assert t.output_schema and t.output_schema["type"] == "object", t.name
        assert t.annotations and t.annotations.read_only_hint is True
        assert t.description
    search = tools["search"].input_schema["properties"]
    assert search["mode"]["enum"] == list(MODE_NAMES)
    assert search["k"]["anyOf"][0]["maximum"] == 100
    assert set(search["filters"]["anyOf"][0]["properties"]) == {"doc_ids", "path_glob", "metadata"}
    assert tools["search"].input_schema["required"] == ["question"]
    assert "results" in tools["search"].output_schema["properties"]
    assert {"answer", "citations", "sources"} <= set(tools["ask"].output_schema["properties"])


# --- search ----------------------------------------------------------------------------------


def test_search_returns_what_the_engine_retrieves(server: RagMCPServer, engine: Engine) -> None:
    result = call(server, "search", question=KV_QUESTION, k=3)
    assert 0 < ok(result)["timings"]["retrieval_s"] < 30
    found = ok(result)["results"]
    direct = engine.context(KV_QUESTION, k=3).hits
    assert [r["chunk_id"] for r in found] == [h.chunk.id for h in direct]
    top = found[0]
    assert top["document"] == "gpu_memory_sizing.pdf" and top["page"] == 2
    assert top["location"] == "page 2" and "KV cache" in top["text"]
    assert top["n"] == 1 and top["score"] == pytest.approx(direct[0].score, abs=1e-6)
    assert top["doc_id"] == direct[0].document.id and top["source"].endswith(top["document"])
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("[1] gpu_memory_sizing.pdf (page 2)") and top["text"] in text


def test_search_gives_the_section_of_a_markdown_passage(server: RagMCPServer) -> None:
    found = ok(call(server, "search", question="什么是 QLoRA？它把冻结的基座模型量化成什么格式？"))
    top = found["results"][0]
    assert top["document"] == "lora_qlora_zh.md" and top["page"] is None
    assert top["section"].endswith("二、QLoRA：在 4-bit 基座上训练 LoRA")
    assert top["location"] == top["section"] and len(found["results"]) == 5  # RAG_TOP_K


@pytest.mark.parametrize(
    ("filters", "allowed"),
    [
        ({"path_glob": "*.pptx"}, {"inference_deployment.pptx"}),
        ({"metadata": {"team": "research"}}, None),  # every document but the infra ones
        ({"metadata": {"team": ["research", "nobody"]}}, None),
    ],
)
def test_search_filters_exclude_documents(
    server: RagMCPServer, filters: dict[str, Any], allowed: set[str] | None
) -> None:
    unfiltered = ok(call(server, "search", question=KV_QUESTION, k=5))["results"]
    assert unfiltered[0]["document"] == "gpu_memory_sizing.pdf"  # what the filter must remove
    found = ok(call(server, "search", question=KV_QUESTION, k=5, filters=filters))["results"]
    names = {r["document"] for r in found}
    assert found and "gpu_memory_sizing.pdf" not in names
    assert names <= allowed if allowed else not names & set(INFRA)


def test_search_by_document_id(server: RagMCPServer, engine: Engine) -> None:
    doc = next(d for d in engine.documents() if d.name == "quantization_guide.docx")
    found = ok(call(server, "search", question=KV_QUESTION, filters={"doc_ids": [doc.id]}))
    assert {r["doc_id"] for r in found["results"]} == {doc.id}


def test_filters_sent_as_a_json_string_are_read_the_same(server: RagMCPServer) -> None:
    as_text = json.dumps({"metadata": {"team": "infra"}})
    found = ok(call(server, "search", question=KV_QUESTION, filters=as_text))["results"]
    assert {r["document"] for r in found} <= set(INFRA)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"filters": {"bogus": 1}},
            "unknown filter 'bogus'; filters take doc_ids, path_glob, metadata",
        ),
        ({"filters": {"metadata": {"team": {"a": 1}}}}, "metadata 'team' must be a string"),
        ({"question": "   "}, "question must not be empty"),
        ({"mode": "graph", "strategy": "bogus"}, "strategy"),
        ({"k": 0}, "greater than or equal to 1"),
        ({"k": 101}, "less than or equal to 100"),
    ],
)
def test_bad_arguments_are_one_clear_error(
    server: RagMCPServer, arguments: dict[str, Any], message: str
) -> None:
    result = call(server, "search", **{"question": "KV cache", **arguments})
    assert message in error_text(result)


def test_the_filter_rules_are_rag_filters(server: RagMCPServer) -> None:
    """The tool's message for a bad filter is the one every surface gives (rag.filters)."""
    with pytest.raises(UsageError) as e:
        filter_from_json({"bogus": 1})
    assert error_text(call(server, "search", question="x", filters={"bogus": 1})) == str(e.value)


def test_a_graph_mode_search_reaches_passages(server: RagMCPServer) -> None:
    found = ok(call(server, "search", question="What is LoRA?", mode="graph", strategy="local"))
    assert found["mode"] == "graph" and found["strategy"] == "local" and found["results"]


# --- ask -------------------------------------------------------------------------------------


def test_ask_answers_with_citations(store: Path) -> None:
    gen = ScriptedGenerator(ANSWER)
    with _engine(store, gen) as engine:
        result = call(build_server(engine), "ask", question=KV_QUESTION, k=3)
    answer = ok(result)
    assert answer["answer"].startswith("The KV cache of one 4096-token sequence takes 2 GiB [1]")
    assert answer["mode"] == "rag" and answer["language"] == "en"
    assert len(answer["sources"]) == 3
    first = answer["sources"][0]
    assert answer["citations"] == [
        {"n": 1, "chunk_id": first["chunk_id"], "document": "gpu_memory_sizing.pdf",
         "location": "page 2"}
    ]  # fmt: skip
    prompt = gen.calls[0][-1]["content"]
    assert first["text"] in prompt
    assert answer["timings"]["total_s"] >= answer["timings"]["retrieval_s"] >= 0
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(ANSWER) and "*[1] gpu_memory_sizing.pdf (page 2)" in text


def test_ask_honours_a_filter(server: RagMCPServer) -> None:
    answer = ok(call(server, "ask", question=KV_QUESTION, filters={"path_glob": "*.docx"}))
    assert {s["document"] for s in answer["sources"]} == {"quantization_guide.docx"}


def test_ask_without_a_generator_model_is_one_clear_error(tmp_path: Path, store: Path) -> None:
    settings = Settings.from_env(
        {"HOME": str(tmp_path)}, store_dir=store, embedder="hashing", models_dir=tmp_path / "m"
    )
    with Engine(settings, embedder=HashingEmbedder()) as engine:
        result = call(build_server(engine), "ask", question="What is LoRA?")
    text = error_text(result)
    assert "is not installed" in text and "rag models install" in text
    assert result.meta and result.meta["code"] == "model_not_installed"


# --- documents and chunks ----------------------------------------------------------------------


def test_list_documents_and_a_metadata_filter(server: RagMCPServer) -> None:
    everything = ok(call(server, "list_documents"))
    assert everything["total"] == 10 and len(everything["documents"]) == 10
    pdf = next(d for d in everything["documents"] if d["name"] == "gpu_memory_sizing.pdf")
    assert pdf["format"] == "pdf" and pdf["metadata"] == {"team": "infra"} and pdf["chunks"] > 1
    assert pdf["uri"] == f"rag://document/{pdf['id']}"
    infra = ok(call(server, "list_documents", filters={"metadata": {"team": "infra"}}))
    assert sorted(d["name"] for d in infra["documents"]) == sorted(INFRA)
    assert infra["total"] == 10


def test_get_chunk_gives_its_neighbours_in_reading_order(
    server: RagMCPServer, engine: Engine
) -> None:
    doc = next(d for d in engine.documents() if d.name == "quantization_guide.docx")
    chunks = engine.chunks(doc.id)
    middle = chunks[4]
    found = ok(call(server, "get_chunk", chunk_id=middle.id, neighbours=2))
    assert found["chunk"]["chunk_id"] == middle.id and found["chunk"]["text"] == middle.text
    assert found["chunk"]["ordinal"] == 4 and found["document"] == doc.name
    assert [c["chunk_id"] for c in found["previous"]] == [chunks[2].id, chunks[3].id]
    assert [c["chunk_id"] for c in found["next"]] == [chunks[5].id, chunks[6].id]
    assert found["chunks_in_document"] == len(chunks)

    first = ok(call(server, "get_chunk", chunk_id=chunks[0].id))
    assert first["previous"] == [] and [c["ordinal"] for c in first["next"]] == [1]
    last = ok(call(server, "get_chunk", chunk_id=chunks[-1].id, neighbours=0))
    assert last["previous"] == [] == last["next"]


def test_an_unknown_chunk_is_a_clear_error(server: RagMCPServer) -> None:
    result = call(server, "get_chunk", chunk_id="0123456789abcdef")
    assert error_text(result) == "no chunk with id '0123456789abcdef'"
    assert result.meta and result.meta["code"] == "chunk_not_found"


# --- the knowledge graph -----------------------------------------------------------------------


def _names(entity: dict[str, Any]) -> list[str]:
    return [entity["name"], *entity["aliases"]]


def test_graph_neighbors_relations_come_from_chunks_naming_both(server: RagMCPServer) -> None:
    found = ok(call(server, "graph_neighbors", entity="qlora", limit=8))
    seed = found["entity"]
    assert seed["name"] == "QLoRA" and seed["degree"] >= len(found["neighbours"]) > 0
    by_id = {e["id"]: e for e in [seed, *found["neighbours"]]}
    own = [r for r in found["relations"] if seed["id"] in (r["source"]["id"], r["target"]["id"])]
    assert own and found["relations"][: len(own)] == own  # the entity's own relations first
    weights = [r["weight"] for r in own]
    assert weights == sorted(weights, reverse=True)
    checked = 0
    for r in own[:4]:
        assert r["chunks"], r
        for source in r["chunks"]:
            text = ok(call(server, "get_chunk", chunk_id=source["chunk_id"]))["chunk"]["text"]
            key = name_key(text)
            for end in (r["source"], r["target"]):
                assert any(name_key(n) in key for n in _names(by_id[end["id"]])), (end, text)
            checked += 1
    assert checked >= 4


def test_graph_neighbors_at_depth_two_reach_further(server: RagMCPServer) -> None:
    one = ok(call(server, "graph_neighbors", entity="QLoRA", depth=1, limit=200))
    two = ok(call(server, "graph_neighbors", entity="QLoRA", depth=2, limit=200))
    assert {e["id"] for e in one["neighbours"]} < {e["id"] for e in two["neighbours"]}


def test_an_unknown_entity_is_a_clear_error(server: RagMCPServer) -> None:
    result = call(server, "graph_neighbors", entity="Zebra-Unicorn-9")
    assert error_text(result) == "no entity 'Zebra-Unicorn-9' in the knowledge graph"
    assert result.meta and result.meta["code"] == "entity_not_found"


# --- resources --------------------------------------------------------------------------------


def test_documents_are_listed_as_resources(server: RagMCPServer, engine: Engine) -> None:
    listed = session(server, lambda c: c.list_resources()).resources
    assert sorted(r.uri for r in listed) == sorted(
        f"rag://document/{d.id}" for d in engine.documents()
    )
    templates = session(server, lambda c: c.list_resource_templates()).resource_templates
    assert {t.uri_template for t in templates} == {"rag://document/{id}", "rag://chunk/{id}"}


def test_a_document_resource_is_its_metadata_and_its_text_in_order(
    server: RagMCPServer, engine: Engine
) -> None:
    doc = next(d for d in engine.documents() if d.name == "gpu_memory_sizing.pdf")
    read = session(server, lambda c: c.read_resource(f"rag://document/{doc.id}"))
    (content,) = read.contents
    assert content.mime_type == "text/markdown"
    text = content.text  # type: ignore[union-attr]
    assert text.startswith(f"# {doc.title}\ndocument: gpu_memory_sizing.pdf (id {doc.id})")
    assert "metadata: team=infra" in text and "[page 2]" in text
    ends = [text.index(c.text[-60:]) for c in engine.chunks(doc.id)]
    assert ends == sorted(ends)  # every chunk, in reading order


def test_a_chunk_resource_is_its_text_with_provenance(server: RagMCPServer, engine: Engine) -> None:
    doc = next(d for d in engine.documents() if d.name == "inference_deployment.pptx")
    chunk = engine.chunks(doc.id)[2]
    (content,) = session(server, lambda c: c.read_resource(f"rag://chunk/{chunk.id}")).contents
    text = content.text  # type: ignore[union-attr]
    assert text.endswith(chunk.text + "\n")
    assert f"document: inference_deployment.pptx (id {doc.id}" in text
    assert f"chunk: 3 of {doc.n_chunks} (id {chunk.id})" in text and "location: slide " in text


@pytest.mark.parametrize("uri", ["rag://document/0123456789abcdef", "rag://chunk/nope"])
def test_an_unknown_resource_is_a_not_found_error(server: RagMCPServer, uri: str) -> None:
    async def read(client: Client) -> MCPError | None:
        try:
            await client.read_resource(uri)
        except MCPError as e:  # raised inside the session's task group: caught there
            return e
        return None

    error = session(server, read)
    assert error is not None
    assert error.error.code == -32602  # invalid params: what SEP-2164 gives a missing resource
    assert error.error.message in (
        "no document with id 0123456789abcdef; see `rag docs`",
        "no chunk with id 'nope'",
    )


# --- other stores and protocol versions ---------------------------------------------------------


def test_a_missing_store_says_so_and_lists_no_resources(tmp_path: Path) -> None:
    with _engine(tmp_path / "none") as engine:
        server = build_server(engine)
        text = error_text(call(server, "list_documents"))
        assert text.startswith(f"no store at {tmp_path / 'none'}")
        assert session(server, lambda c: c.list_resources()).resources == []
    assert not (tmp_path / "none").exists()


def test_the_modern_protocol_without_a_handshake(server: RagMCPServer) -> None:
    async def use(client: Client) -> CallToolResult:
        assert client.protocol_version >= "2026"
        return await client.call_tool("search", {"question": KV_QUESTION, "k": 1})

    found = ok(session(server, use, mode="auto"))
    assert found["results"][0]["document"] == "gpu_memory_sizing.pdf"


# --- the reading text of a document --------------------------------------------------------------


def _chunk(n: int, text: str, path: tuple[str, ...] = ("Guide",), page: int | None = None) -> Chunk:
    return Chunk(f"c{n}", "d", n, text, f"h{n}", path, page)


def test_reading_text_leaves_out_the_repeated_overlap_only() -> None:
    first = "Quantisation maps weights to fewer bits. The scale is stored per group of weights."
    second = "The scale is stored per group of weights. GPTQ corrects the rounding error."
    third = "4 bits is the usual choice."  # starts as `second` does not end: nothing to drop
    text = reading_text([
        _chunk(0, first, page=1), _chunk(1, second, ("Guide", "GPTQ"), 1),
        _chunk(2, "Width 4", ("Guide", "GPTQ"), 2), _chunk(3, third, ("Guide", "GPTQ"), 2),
    ])  # fmt: skip
    assert text == (
        "[page 1]\n\n# Guide\n\n" + first + "\n\n## GPTQ\n\nGPTQ corrects the rounding error."
        "\n\n[page 2]\n\nWidth 4\n\n" + third
    )


def test_ask_lists_only_the_sources_the_prompt_held(engine: Engine) -> None:
    from dataclasses import replace

    from rag.integrations.mcp_shapes import ask_result

    ctx = engine.context("LoRA adapters and QLoRA", k=4)
    answer = engine.ask("LoRA adapters and QLoRA", context=ctx)
    assert len(ctx.hits) == 4 and len(answer.sources) == 4
    fitted = replace(answer, sources=answer.sources[:2], cited=[1])  # a budget that held two
    result = ask_result(fitted, ctx.hits)
    assert [p.chunk_id for p in result.sources] == [h.chunk.id for h in ctx.hits[:2]]
    assert [c.chunk_id for c in result.citations] == [ctx.hits[0].chunk.id]
