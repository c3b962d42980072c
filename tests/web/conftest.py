"""Fixtures of the web tests: a Flask app over an engine with fakes (hashing embedder, scripted
generator), empty or with the demo corpus uploaded through the API itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ingest.embedding import HashingEmbedder
from rag.engine import Engine
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
