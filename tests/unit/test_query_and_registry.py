"""The typed query, the mode registry the CLI reads, and bad choices failing before any work."""

from __future__ import annotations

import argparse

import pytest

from ingest.errors import ConfigError
from rag.choices import GRAPH_STRATEGIES, MODE_NAMES
from rag.engine import Engine
from rag.modes.base import Query
from rag.modes.registry import MODES


def _choices(flag: str, command: str) -> tuple[str, ...]:
    from rag.cli.main import _parser

    [sub] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    [action] = [a for a in sub.choices[command]._actions if flag in a.option_strings]
    return tuple(action.choices or ())


def test_the_cli_offers_exactly_the_registered_modes() -> None:
    assert tuple(MODES) == MODE_NAMES == ("rag", "graph", "kag")
    for command in ("ask", "eval"):
        assert _choices("--mode", command) == MODE_NAMES
        assert (
            _choices("--graph-strategy", command) == GRAPH_STRATEGIES == MODES["graph"].strategies
        )


def test_a_query_gets_the_settings_defaults(fake_engine: Engine) -> None:
    q = fake_engine.query("What is LoRA?")
    assert (q.mode, q.k, q.method, q.strategy) == ("rag", 5, "hybrid", None)
    g = fake_engine.query("What is LoRA?", mode="graph", k=3)
    assert (g.strategy, g.k) == ("hybrid", 3)
    own = Query("What is DPO?", mode="graph", strategy="ppr", method="bm25")
    assert fake_engine.query(own) == Query("What is DPO?", "graph", "ppr", 5, "bm25")
    assert fake_engine.query("q", mode="rag", strategy="ppr").strategy is None  # not graph
    with pytest.raises(TypeError):
        Query.of(own, k=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "magic"}, "unknown mode 'magic'; choose one of rag, graph, kag"),
        ({"mode": "graph", "strategy": "deep"}, "choose one of local, global, ppr, hybrid"),
        ({"method": "grep"}, "choose one of dense, bm25, hybrid"),
        ({"k": 0}, "k must be at least 1"),
    ],
)
def test_bad_choices_fail_before_any_work(fake_engine: Engine, options: dict[str, object], message: str) -> None:  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        fake_engine.ask("What is LoRA?", **options)  # type: ignore[arg-type]
    assert not fake_engine.settings.store_dir.exists()  # nothing was opened or created


def test_stream_checks_the_query_before_the_first_event(fake_engine: Engine) -> None:
    # a web server sends its status line at the first event: a bad query must fail before
    with pytest.raises(ConfigError, match="unknown mode"):
        fake_engine.stream("What is LoRA?", mode="magic")  # type: ignore[arg-type]
