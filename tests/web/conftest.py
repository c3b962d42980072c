"""Fixtures of the web tests: a Flask app over an engine with fakes (hashing embedder, scripted
generator), empty or with the demo corpus uploaded through the API itself."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from ingest.embedding import Embedder, HashingEmbedder
from rag.engine import Engine
from rag.generation.base import Generator
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings
from tests.conftest import DEMO
from web.app import create_app

ANSWER = "QLoRA 把基座模型量化为 4-bit 再训练 LoRA [1]。"
DEMO_FILES = sorted(p for p in DEMO.iterdir() if p.is_file() and p.suffix not in (".jsonl", ""))


def make_app(tmp: Path, **settings: Any) -> Flask:
    s = Settings.from_env(
        {"HOME": str(tmp / "home")}, store_dir=tmp / "store", embedder="hashing", **settings
    )
    engine = Engine(s, embedder=HashingEmbedder(), generator=ScriptedGenerator(ANSWER))
    app = create_app(engine=engine)
    app.config["TESTING"] = True
    return app


def upload(client: FlaskClient, paths: list[Path], prefix: str = "demo/", **form: str) -> Any:
    files = [(p.open("rb"), prefix + p.name) for p in paths]
    try:
        return client.post("/api/v1/documents", data={"file": files, **form},
                           content_type="multipart/form-data")  # fmt: skip
    finally:
        for f, _ in files:
            f.close()


def wait_job(app: Flask, job_id: str) -> dict[str, Any]:
    return app.extensions["rag"].default.jobs.wait(job_id, timeout=120)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app over a store that does not exist yet."""
    a = make_app(tmp_path)
    yield a
    a.extensions["rag"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app whose store holds the demo corpus, uploaded through POST /documents (read-only
    tests share it: do not delete from it)."""
    a = make_app(tmp_path_factory.mktemp("demo-web"))
    resp = upload(a.test_client(), DEMO_FILES)
    assert resp.status_code == 202, resp.json
    job = wait_job(a, resp.json["job"]["id"])
    assert job["state"] == "done", job
    yield a
    a.extensions["rag"].close()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


# --- helpers of test_api.py, test_jobs.py and test_serve.py --------------------------------------


class GatedEmbedder(HashingEmbedder):
    """A hashing embedder that holds each embedding call at a gate until the test lets it on.

    Embedding is the ingest's true boundary with the model, so a job held here is a job really
    running: its files are in the "embedding" (or, for the graph's names, the "graph") stage.
    `arrived` counts the calls that reached the closed gate; `calls` records every call's texts.
    A gate left closed opens by itself after `max_wait` seconds, so a failing test cannot hang.
    """

    def __init__(self, max_wait: float = 60.0) -> None:
        super().__init__()
        self.arrived = threading.Semaphore(0)
        self.calls: list[list[str]] = []
        self._passes = threading.Semaphore(0)
        self._open = threading.Event()
        self._max_wait = max_wait

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if not self._open.is_set():
            self.arrived.release()
            deadline = time.monotonic() + self._max_wait
            while not self._open.is_set() and not self._passes.acquire(timeout=0.02):
                if time.monotonic() > deadline:
                    break
        return super().embed_passages(texts)

    def wait_arrival(self, timeout: float = 30.0) -> None:
        """Until an embedding call waits at the gate."""
        assert self.arrived.acquire(timeout=timeout), "no embedding call reached the gate"

    def let_one_through(self) -> None:
        self._passes.release()

    def open(self) -> None:
        self._open.set()


def make_engine_app(
    tmp: Path,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    **settings: Any,
) -> Flask:
    """Like make_app, with the engine's embedder or generator chosen by the test."""
    s = Settings.from_env(
        {"HOME": str(tmp / "home")}, store_dir=tmp / "store", embedder="hashing", **settings
    )
    engine = Engine(
        s, embedder=embedder or HashingEmbedder(), generator=generator or ScriptedGenerator(ANSWER)
    )
    app = create_app(engine=engine)
    app.config["TESTING"] = True
    return app


def post_files(
    client: FlaskClient,
    files: list[tuple[str, bytes]],
    headers: dict[str, str] | None = None,
    **form: str,
) -> Any:
    """POST /api/v1/documents with in-memory files given as (uploaded name, content)."""
    data: dict[str, Any] = {"file": [(io.BytesIO(b), name) for name, b in files], **form}
    return client.post(
        "/api/v1/documents", data=data, content_type="multipart/form-data", headers=headers or {}
    )


def every_file(root: Path) -> set[Path]:
    """Every file and folder under root (for asserting where a request wrote)."""
    return set(root.rglob("*"))


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[Flask, GatedEmbedder]]:
    """An app whose ingest jobs wait at the embedder's gate until the test opens it."""
    emb = GatedEmbedder()
    a = make_engine_app(tmp_path, embedder=emb, write_wait=0.2)
    yield a, emb
    emb.open()
    a.extensions["rag"].close()
