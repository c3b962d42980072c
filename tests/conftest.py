"""Shared fixtures: paths to real test data, engines over fakes, the real small models.

Real-model fixtures skip when the models are not installed, except under CI (CI=true), where
a missing model is a failure: `make test` installs them, so a skip there would hide a bug.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ingest.embedding import HashingEmbedder
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "corpora" / "demo"
SHARED = ROOT.parent / "shared"


def need(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI installs it: run `make setup`)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def demo_questions() -> list[dict[str, object]]:
    lines = (DEMO / "questions.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    need(SHARED.is_dir(), f"{SHARED} is not present")
    return SHARED


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"HOME": str(tmp_path / "home")}, store_dir=tmp_path / "store", embedder="hashing"
    )


@pytest.fixture
def fake_engine(settings: Settings) -> Engine:
    """An engine over a fresh store with the hashing embedder and a scripted generator."""
    gen = ScriptedGenerator("The answer is in the first passage [1].")
    engine = Engine(settings, embedder=HashingEmbedder(), generator=gen)
    yield engine
    engine.close()


def scripted_engine(tmp_path: Path, gen: ScriptedGenerator) -> Engine:
    """An engine over a fresh store in `tmp_path` with the hashing embedder and `gen`,
    translation off: the script answers the question and nothing else."""
    settings = Settings.from_env(
        {"HOME": str(tmp_path)}, store_dir=tmp_path / "kb", embedder="hashing",
        translate_queries="off",
    )  # fmt: skip
    return Engine(settings, embedder=HashingEmbedder(), generator=gen)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return Settings.from_env().models_dir


@pytest.fixture(scope="session")
def real_embedder(models_dir: Path):
    from ingest.e5 import E5Embedder
    from rag.models.registry import MODELS, is_installed

    need(is_installed(MODELS["embedder"], models_dir), "the e5 embedder is not installed")
    return E5Embedder(models_dir)


@pytest.fixture(scope="session")
def e5_demo_store(tmp_path_factory: pytest.TempPathFactory, real_embedder, demo_dir: Path) -> Path:
    """The demo corpus ingested once per run with the real embedder (1.5 min on 2 cores), at
    `<tmp>/kb`; the tests that share it only read it."""
    store = tmp_path_factory.mktemp("demo-e5") / "kb"
    with Engine(Settings.from_env(store_dir=store), embedder=real_embedder) as engine:
        report = engine.ingest([demo_dir])
    assert report.failed == [] and report.count("added") == 10
    return store


def _generator(models_dir: Path, key: str, context_tokens: int):
    from rag.generation.llama import LlamaCppGenerator
    from rag.models.registry import MODELS, is_installed

    need(is_installed(MODELS[key], models_dir), f"model {key} is not installed")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        need(False, "llama-cpp-python is not installed")
    return LlamaCppGenerator(MODELS[key].path(models_dir), context_tokens=context_tokens)


@pytest.fixture(scope="session")
def smoke_generator(models_dir: Path):
    return _generator(models_dir, "smollm2-135m", 2048)


@pytest.fixture(scope="session")
def default_generator(models_dir: Path):
    return _generator(models_dir, "qwen2.5-1.5b", 4096)


# --- the cluster backend's engines (scripts/services.sh up; `make test` starts them) ---------

PG_URL = os.environ.get("RAG_POSTGRES_URL", "postgresql://rag:rag@127.0.0.1:5433/rag")
MILVUS_URI = os.environ.get("RAG_MILVUS_URI", "http://127.0.0.1:19530")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL that scripts/services.sh starts; skips (fails under CI) when it is down."""
    try:
        import psycopg
    except ImportError:
        need(False, "psycopg is not installed (the [cluster] extra)")
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        need(False, f"PostgreSQL is not running at {PG_URL} (scripts/services.sh up): {e}")
    return PG_URL


@pytest.fixture(scope="session")
def milvus_uri() -> str:
    """The Milvus Lite server that scripts/services.sh starts; skips (fails under CI) when down."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        need(False, "pymilvus is not installed (the [cluster] extra)")
    try:
        MilvusClient(MILVUS_URI, timeout=5).close()
    except Exception as e:  # pymilvus raises its own MilvusException on a refused connection
        need(False, f"Milvus is not running at {MILVUS_URI} (scripts/services.sh up): {e}")
    return MILVUS_URI


@pytest.fixture
def cluster_name(request: pytest.FixtureRequest) -> str:
    """A knowledge-base name no other test uses (a PostgreSQL schema, a Milvus collection prefix)."""
    import uuid

    return f"t{uuid.uuid4().hex[:12]}"
