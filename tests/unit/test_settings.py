"""Settings.from_env: defaults from HOME and XDG, RAG_* variables, explicit overrides win."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rag.settings import Settings

HOME = {"HOME": "/home/ada"}


def test_defaults_derive_from_home() -> None:
    s = Settings.from_env(HOME)
    assert s.store_dir == Path("/home/ada/.local/share/rag/store")
    assert s.cache_dir == Path("/home/ada/.cache/rag")
    assert s.models_dir == Path("/home/ada/.cache/rag/models")
    assert s.generator == "local"


def test_xdg_directories_move_store_and_cache() -> None:
    s = Settings.from_env({**HOME, "XDG_DATA_HOME": "/data", "XDG_CACHE_HOME": "/cache"})
    assert s.store_dir == Path("/data/rag/store")
    assert s.models_dir == Path("/cache/rag/models")


def test_rag_home_holds_cache_and_models() -> None:
    s = Settings.from_env({**HOME, "RAG_HOME": "/opt/rag", "XDG_CACHE_HOME": "/cache"})
    assert s.cache_dir == Path("/opt/rag")
    assert s.models_dir == Path("/opt/rag/models")
    assert s.store_dir == Path("/home/ada/.local/share/rag/store")


def test_rag_store_and_models_dir_are_taken_as_given() -> None:
    env = {**HOME, "RAG_STORE": "/srv/store", "RAG_MODELS_DIR": "/srv/models"}
    s = Settings.from_env(env)
    assert s.store_dir == Path("/srv/store")
    assert s.models_dir == Path("/srv/models")
    assert s.cache_dir == Path("/home/ada/.cache/rag")


def test_overrides_win_over_the_environment() -> None:
    env = {**HOME, "RAG_STORE": "/srv/store", "RAG_TOP_K": "8"}
    s = Settings.from_env(env, store_dir=Path("/tmp/other"), top_k=3)
    assert s.store_dir == Path("/tmp/other")
    assert s.top_k == 3


def test_none_overrides_are_ignored() -> None:
    env = {**HOME, "RAG_STORE": "/srv/store", "RAG_TOP_K": "8"}
    s = Settings.from_env(env, store_dir=None, top_k=None, model=None)
    assert s.store_dir == Path("/srv/store")
    assert s.top_k == 8
    assert s.model == Settings.from_env(HOME).model


def test_openai_base_url_selects_the_openai_generator() -> None:
    env = {**HOME, "RAG_OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"}
    assert Settings.from_env(env).generator == "openai"
    assert Settings.from_env(env).openai_base_url == "http://127.0.0.1:8080/v1"
    assert Settings.from_env({**env, "RAG_GENERATOR": "local"}).generator == "local"
    assert Settings.from_env(env, generator="local").generator == "local"


def test_integer_variables_are_parsed() -> None:
    s = Settings.from_env({**HOME, "RAG_THREADS": "8", "RAG_CONTEXT_TOKENS": "8192"})
    assert s.threads == 8
    assert s.context_tokens == 8192


def test_settings_are_frozen() -> None:
    s = Settings.from_env(HOME)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.top_k = 10  # type: ignore[misc]
