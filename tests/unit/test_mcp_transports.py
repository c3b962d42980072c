"""`rag mcp` as a real process: a client session of the same SDK over stdio (how a desktop client
runs it) and over streamable HTTP (with and without RAG_API_KEY), and the CLI's refusals. The
store is built with the hashing embedder, and answers come from a fake OpenAI-compatible
endpoint: the process's true boundary."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from ingest.embedding import HashingEmbedder
from rag.cli.main import _parser, main
from rag.engine import Engine
from rag.settings import Settings
from tests.conftest import ROOT
from tests.fake_openai import fake_openai

FILES = ["gpu_memory_sizing.pdf", "lora_qlora_zh.md", "quantization_guide.docx"]
KV = "How much KV cache does a 7B model need for one 4096-token sequence?"
ANSWER = "One 4096-token sequence needs 2 GiB of KV cache [1]."


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("mcp-proc") / "kb"
    settings = Settings.from_env({"HOME": str(root.parent)}, store_dir=root, embedder="hashing")
    with Engine(settings, embedder=HashingEmbedder()) as engine:
        engine.ingest([demo_dir / f for f in FILES], metadata={"team": "infra"})
    return root


def env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no RAG_* of the developer's, HOME (and so every cache) in tmp."""
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp / "home"), "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8", "RAG_EMBEDDER": "hashing", "RAG_TRANSLATE_QUERIES": "off", **extra,
    }  # fmt: skip


def rag_mcp(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli.main", "mcp", *args]


def text(result: CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


# --- stdio -----------------------------------------------------------------------------------


def test_a_stdio_session_against_rag_mcp(store: Path, tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"

    async def session(url: str) -> dict[str, Any]:
        params = StdioServerParameters(
            command=sys.executable, args=rag_mcp("--store", str(store))[1:], cwd=ROOT,
            env=env(tmp_path, RAG_OPENAI_BASE_URL=url, RAG_OPENAI_MODEL="fake-model"),
        )  # fmt: skip
        with anyio.fail_after(120), log.open("w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as s,
            ):
                init = await s.initialize()
                tools = await s.list_tools()
                search = await s.call_tool("search", {"question": KV, "k": 2})
                ask = await s.call_tool("ask", {"question": KV, "k": 2})
                listed = await s.list_resources()
                doc = await s.read_resource(listed.resources[0].uri)
                missing = await s.call_tool("get_chunk", {"chunk_id": "nope"})
        return {"init": init, "tools": tools, "search": search, "ask": ask,
                "listed": listed, "doc": doc, "missing": missing}  # fmt: skip

    with fake_openai(ANSWER) as (url, fake):
        got = anyio.run(session, url)
    assert got["init"].server_info.name == "rag"
    assert {t.name for t in got["tools"].tools} == {
        "search", "ask", "list_documents", "get_chunk", "graph_neighbors",
    }  # fmt: skip
    search = got["search"].structured_content
    assert [r["document"] for r in search["results"]][:1] == ["gpu_memory_sizing.pdf"]
    assert text(got["search"]).startswith("[1] gpu_memory_sizing.pdf (page 2)")
    ask = got["ask"].structured_content
    assert ask["answer"].startswith(ANSWER) and ask["citations"][0]["n"] == 1
    assert fake.requests[0]["model"] == "fake-model"
    assert ask["sources"][0]["text"] in fake.requests[0]["messages"][-1]["content"]
    assert sorted(r.name for r in got["listed"].resources) == sorted(FILES)
    assert "metadata: team=infra" in got["doc"].contents[0].text
    assert got["missing"].is_error and text(got["missing"]) == "no chunk with id 'nope'"
    err = log.read_text("utf-8")
    assert f"rag: MCP server for {store} on stdio" in err and "Traceback" not in err


def _start(
    store: Path, tmp: Path, *args: str, **extra: str
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            rag_mcp("--store", str(store), *args), env=env(tmp, **extra), cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out,
        )  # fmt: skip
    return proc, log


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if m := re.search(r"MCP server for \S+ on (\S+)", log.read_text("utf-8")):
            return m.group(1)
        if proc.poll() is not None:
            pytest.fail(f"rag mcp exited with {proc.returncode}:\n{log.read_text('utf-8')}")
        time.sleep(0.1)
    pytest.fail(f"rag mcp was not ready in {timeout}s:\n{log.read_text('utf-8')}")


def _stop(proc: subprocess.Popen[bytes], sig: int | None, log: Path) -> int:
    if sig is None:
        assert proc.stdin is not None
        proc.stdin.close()  # the client went away: end of input
    else:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"rag mcp did not stop ({sig}):\n{log.read_text('utf-8')}")


@pytest.mark.parametrize("sig", [None, signal.SIGTERM, signal.SIGINT], ids=["eof", "term", "int"])
def test_stdio_stops_cleanly(store: Path, tmp_path: Path, sig: int | None) -> None:
    proc, log = _start(store, tmp_path)
    assert _wait_ready(proc, log) == "stdio"
    code = _stop(proc, sig, log)
    assert proc.stdout is not None
    assert code == 0 and proc.stdout.read() == b"", log.read_text("utf-8")
    assert "Traceback" not in log.read_text("utf-8")


# --- streamable HTTP ------------------------------------------------------------------------------


async def _search_over_http(url: str, headers: dict[str, str]) -> CallToolResult:
    with anyio.fail_after(60):
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, mode="legacy") as client:
                return await client.call_tool("search", {"question": KV, "k": 1})


def _post(url: str, headers: dict[str, str]) -> httpx2.Response:
    """An initialize request, by hand: what a client sends first."""
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    }}  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream", **headers}
    return httpx2.post(url, json=hello, headers=headers, timeout=30)


@pytest.fixture
def http_server(store: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    proc, log = _start(store, tmp_path, "--http", "0", RAG_API_KEY="s3cret")
    yield proc, log
    if proc.poll() is None:  # a test that failed before stopping it
        proc.kill()
        proc.wait()


def test_http_wants_the_api_key(
    http_server: tuple[subprocess.Popen[bytes], Path], store: Path
) -> None:
    proc, log = http_server
    url = _wait_ready(proc, log)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", url)
    found = anyio.run(_search_over_http, url, {"Authorization": "Bearer s3cret"})
    assert not found.is_error
    assert found.structured_content["results"][0]["document"] == "gpu_memory_sizing.pdf"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        refused = _post(url, headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="rag"'
        assert refused.json()["error"]["code"] == "unauthorized"
    with pytest.raises(ExceptionGroup) as e:  # and the SDK's client gives up on the 401
        anyio.run(_search_over_http, url, {})
    assert e.group_contains(MCPError, match="error response")
    assert _stop(proc, signal.SIGTERM, log) == 0
    assert "Traceback" not in log.read_text("utf-8")


def test_http_on_loopback_needs_no_key_but_a_loopback_host(store: Path, tmp_path: Path) -> None:
    proc, log = _start(store, tmp_path, "--http", "0")
    try:
        url = _wait_ready(proc, log)
        found = anyio.run(_search_over_http, url, {})
        assert not found.is_error and found.structured_content["results"]
        assert _post(url, {}).status_code == 200
        # a page on a name that resolves to 127.0.0.1 (DNS rebinding) is refused by the SDK
        assert _post(url, {"Host": "evil.example"}).status_code == 421
        assert _stop(proc, signal.SIGINT, log) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- refusals, in process ----------------------------------------------------------------------


def test_a_network_host_without_a_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_API_KEY", raising=False)
    code = main(["mcp", "--http", "0", "--host", "0.0.0.0", "--store", str(tmp_path / "kb")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: refusing to serve on 0.0.0.0 without an API key")
    assert "Set RAG_API_KEY, or pass --insecure" in err and "MCP server" not in err


def test_a_port_in_use_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["mcp", "--http", str(port), "--store", str(tmp_path / "kb")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another server is there: pick another --http)"
    )


def test_host_without_http_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp", "--host", "0.0.0.0", "--store", str(tmp_path / "kb")]) == 2
    assert "--host and --insecure go with --http PORT" in capsys.readouterr().err


def test_the_client_config_in_the_readme_names_a_real_command() -> None:
    """The README's desktop-client block parses and runs `rag mcp --store`."""
    readme = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"```json\n(\{\s*\"mcpServers\".*?)```", readme, re.S)
    assert block, "README has no mcpServers block"
    config = json.loads(block.group(1))["mcpServers"]["rag"]
    assert config["command"].endswith("/bin/rag")
    args = _parser().parse_args(config["args"])
    assert args.command == "mcp" and args.store == "/path/to/kb" and args.http is None
