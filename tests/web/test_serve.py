"""`rag serve`: the exposure check, the CLI's refusal (exit 2, nothing bound), and one real server
under waitress on a loopback port, driven over real HTTP from upload to retrieval."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import UsageError
from rag.cli.main import main
from rag.settings import Settings
from tests.conftest import ROOT
from web.serve import check_exposure, is_loopback

NOTES = (
    b"# Orchard notes\n\nPear trees grow in orchards and flower in early spring; "
    b"the pollinators are mostly bees.\n"
)


# --- the exposure check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "myhost.lan"])
def test_a_network_host_without_a_key_is_refused(host: str) -> None:
    with pytest.raises(UsageError) as e:
        check_exposure(host, Settings(), insecure=False)
    assert host in str(e.value)
    assert "RAG_API_KEY" in str(e.value) and "--insecure" in str(e.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5"])
def test_a_network_host_is_allowed_with_a_key_or_insecure(host: str) -> None:
    check_exposure(host, Settings(api_key="secret"), insecure=False)
    check_exposure(host, Settings(), insecure=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_key(host: str) -> None:
    check_exposure(host, Settings(), insecure=False)


def test_the_cli_refuses_in_process_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_API_KEY", raising=False)
    store = tmp_path / "store"
    rc = main(["serve", "--host", "0.0.0.0", "--port", "9", "--store", str(store)])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to serve on 0.0.0.0 without an API key")
    assert err.count("\n") == 1 and "serving" not in err
    assert not store.exists()


def test_the_cli_refuses_zero_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_API_KEY", raising=False)
    rc = main(["serve", "--workers", "0", "--port", "9", "--store", str(tmp_path / "s")])
    assert rc == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


# --- real processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no RAG_* of the developer's, HOME (and so every cache) in tmp."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp / "home"),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
        "RAG_EMBEDDER": "hashing",
        **extra,
    }


def rag_command(*args: str) -> list[str]:
    """`rag ARGS`, run from this checkout (the console script is `rag.cli.main:main`)."""
    return [sys.executable, "-m", "rag.cli.main", *args]


def test_the_cli_refuses_a_network_host_without_binding(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "store"
    t0 = time.monotonic()
    proc = subprocess.run(
        rag_command("serve", "--host", "0.0.0.0", "--port", str(port), "--store", str(store)),
        env=server_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("error: refusing to serve on 0.0.0.0 without an API key")
    )
    assert "Set RAG_API_KEY, or pass --insecure" in proc.stderr
    assert "serving" not in proc.stderr and proc.stdout == ""
    assert time.monotonic() - t0 < 30
    assert not store.exists()
    with socket.socket() as s:  # nothing kept the port
        s.bind(("0.0.0.0", port))


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    method: str, url: str, body: bytes | None = None, content_type: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _NO_PROXY.open(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b""
    for name, data in files:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: text/markdown\r\n\r\n'
        ).encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Server:
    """`rag serve` in a child process on a free loopback port; stderr goes to a file."""

    def __init__(self, tmp: Path) -> None:
        """`rag serve` as a terminal starts it: Ctrl-C reaches it even when this suite runs
        in the background, where the shell ignores SIGINT and every child inherits that."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.store = tmp / "store"
        self._log = tmp / "serve.log"
        with self._log.open("w") as log:
            self.proc = subprocess.Popen(
                rag_command(
                    "serve", "--store", str(self.store), "--port", str(self.port), "--workers", "2"
                ),
                env=server_env(tmp),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_interruptible,
            )

    @property
    def log(self) -> str:
        return self._log.read_text("utf-8", errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> tuple[int, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"rag serve exited with {self.proc.returncode}:\n{self.log}")
            try:
                return http("GET", f"{self.base}/health")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        pytest.fail(f"rag serve did not answer in {timeout}s:\n{self.log}")

    def stop(self, sig: int) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"rag serve did not stop on signal {sig}:\n{self.log}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    yield s
    if s.proc.poll() is None:  # a test that failed before stopping it
        s.proc.kill()
        s.proc.wait()


def test_a_real_server_from_upload_to_retrieval(server: Server) -> None:
    status, health = server.wait_ready()
    # no generator model under this HOME: degraded, and answering says so; retrieval works
    assert status == 503 and health["status"] == "degraded"
    assert health["models"]["embedder"] == {"name": "hashing", "installed": True}
    assert health["models"]["generator"]["installed"] is False
    assert health["store"] == {
        "path": str(server.store),
        "exists": False,
        "documents": 0,
        "chunks": 0,
    }

    body, content_type = multipart([("资料/orchard.md", NOTES)])
    status, resp = http("POST", f"{server.base}/documents", body, content_type)
    assert status == 202, resp
    job = resp["job"]
    assert [f["name"] for f in job["files"]] == ["资料/orchard.md"]
    deadline = time.monotonic() + 60
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        status, job = http("GET", f"{server.base}/jobs/{job['id']}")
        assert status == 200
    assert job["state"] == "done", job
    doc_id = job["files"][0]["doc_id"]
    assert doc_id and job["files"][0]["stage"] == "done"

    question = json.dumps({"question": "When do pear trees flower?"}).encode()
    status, hits = http("POST", f"{server.base}/retrieve", question, "application/json")
    assert status == 200, hits
    top = hits["sources"][0]
    assert top["doc_id"] == doc_id and "early spring" in top["text"]
    assert top["title"] == "Orchard notes"
    assert (server.store / "uploads" / "资料" / "orchard.md").read_bytes() == NOTES

    status, answer = http("POST", f"{server.base}/ask", question, "application/json")
    assert status == 503 and answer["error"]["code"] == "model_not_installed"

    assert server.stop(signal.SIGINT) == 0, server.log  # Ctrl-C: a clean stop
    assert f"serving {server.store} on http://127.0.0.1:{server.port}" in server.log
    assert "Traceback" not in server.log
    tmp = server.store.parent
    outside = [p for p in tmp.rglob("*") if not p.is_relative_to(server.store)]
    assert outside == [tmp / "serve.log"]  # the server wrote nothing but into its store


def test_a_real_server_stops_cleanly_on_sigterm(server: Server) -> None:
    server.wait_ready()
    assert server.stop(signal.SIGTERM) == 0, server.log


class CountingGenerator:
    """Streams 200 words, one each 20 ms, counting how many the server has pulled."""

    name = "counting"
    context_tokens = 4096

    def __init__(self) -> None:
        self.pulled = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages: Any, *, max_tokens: int, **kwargs: Any) -> Iterator[str]:
        for i in range(200):
            self.pulled += 1
            time.sleep(0.02)
            yield f"w{i} "


def test_a_client_that_goes_away_stops_the_answer(tmp_path: Path) -> None:
    """The Stop button (or a closed tab) ends generation: the local model is free for the next
    question instead of finishing an answer nobody reads."""
    import threading

    import waitress

    from ingest.embedding import HashingEmbedder
    from rag.engine import Engine
    from web.app import create_app

    s = Settings(store_dir=tmp_path / "s", cache_dir=tmp_path / "c", models_dir=tmp_path / "m",
                 embedder="hashing", graph="off")  # fmt: skip
    gen = CountingGenerator()
    engine = Engine(s, embedder=HashingEmbedder(), generator=gen)
    (tmp_path / "a.md").write_text("# Pears\nPear trees grow slowly.\n", "utf-8")
    engine.ingest([tmp_path / "a.md"])
    app = create_app(engine=engine)
    server = waitress.create_server(app, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        body = json.dumps({"question": "pear", "stream": True}).encode()
        with socket.create_connection(("127.0.0.1", server.effective_port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                b"\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
            )
            received = b""
            while b"event: token" not in received:
                received += sock.recv(4096)
        time.sleep(1.0)  # 50 more words' time, had it gone on
        assert gen.pulled < 20, f"{gen.pulled} words generated after the client left"
    finally:
        server.close()
        app.extensions["rag"].close()


def test_a_port_in_use_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--store", str(tmp_path / "store"), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err and "pick another --port" in err
    assert "internal error" not in err
