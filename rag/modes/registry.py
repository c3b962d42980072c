"""The one list of answering modes and graph strategies: the CLI, the web forms and the API
read their choices from here.

Entries name the function that builds a mode's context by module path, so reading the list
(`rag --help`) imports no mode, no numpy, no graph library and no model.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.errors import ConfigError
from rag.choices import (
    GRAPH_STRATEGIES,
    MODE_NAMES,
    RETRIEVAL_METHODS,
    GraphStrategy,
    ModeName,
    RetrievalMethod,
)

if TYPE_CHECKING:
    from rag.modes.base import Context, Query, Services

__all__ = ["GRAPH_STRATEGIES", "MODES", "MODE_NAMES", "RETRIEVAL_METHODS", "ModeSpec"]


@dataclass(frozen=True)
class ModeSpec:
    name: ModeName
    title: str  # for menus: "Graph RAG"
    help: str
    entry: str  # "module:function" taking (services, query) → Context
    strategies: tuple[GraphStrategy, ...] = ()
    default_strategy: GraphStrategy | None = None

    def run(self, services: Services, query: Query) -> Context:
        module, _, function = self.entry.partition(":")
        context: Context = getattr(importlib.import_module(module), function)(services, query)
        return context


MODES: dict[str, ModeSpec] = {
    "rag": ModeSpec("rag", "RAG", "hybrid retrieval of passages", "rag.modes.plain:context"),
    "graph": ModeSpec(
        "graph", "Graph RAG",
        "entities, relations and community reports from the knowledge graph, then passages",
        "rag.modes.graph:context", strategies=("local", "global", "ppr", "hybrid"),
        default_strategy="hybrid",
    ),
    "kag": ModeSpec(
        "kag", "KAG",
        "a logical plan whose steps are answered from the graph, the passages and Python",
        "rag.modes.kag:context",
    ),
}  # fmt: skip
DEFAULT_GRAPH_STRATEGY: GraphStrategy = "hybrid"


def mode(name: str) -> ModeSpec:
    if name not in MODES:
        raise ConfigError(f"unknown mode {name!r}; choose one of {', '.join(MODES)}")
    return MODES[name]


def check_mode(name: str) -> ModeName:
    return mode(name).name


def check_method(name: str) -> RetrievalMethod:
    if name not in RETRIEVAL_METHODS:
        raise ConfigError(
            f"unknown retrieval method {name!r}; choose one of {', '.join(RETRIEVAL_METHODS)}"
        )
    return name  # type: ignore[return-value]


def check_strategy(name: str) -> GraphStrategy:
    if name not in GRAPH_STRATEGIES:
        raise ConfigError(
            f"unknown graph strategy {name!r}; choose one of {', '.join(GRAPH_STRATEGIES)}"
        )
    return name  # type: ignore[return-value]


assert tuple(MODES) == MODE_NAMES, "MODES and rag.choices.ModeName list the same modes"
assert MODES["graph"].strategies == GRAPH_STRATEGIES
