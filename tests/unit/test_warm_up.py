"""The servers' background warm-up: stopping it waits for the step that is running (the engine
must not be closed under it: that crashed `rag mcp` when a client closed stdin during start-up)
and skips the steps not begun."""

from __future__ import annotations

import logging
import threading

import pytest

from ingest.errors import RagError
from rag.serving import WarmUp

log = logging.getLogger("test-warm-up")


def test_stop_waits_for_the_running_step_and_skips_the_rest() -> None:
    entered, release = threading.Event(), threading.Event()
    done: list[str] = []

    def slow() -> None:
        entered.set()
        release.wait(10)
        done.append("slow")

    warming = WarmUp([("slow", slow), ("next", lambda: done.append("next"))], log).start()
    assert entered.wait(10)
    stopper = threading.Thread(target=warming.stop)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive() and done == []  # stop() is waiting for the running step
    release.set()
    stopper.join(10)
    assert not stopper.is_alive() and done == ["slow"]


def test_every_step_runs_and_a_missing_part_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    finished = threading.Event()

    def missing() -> None:
        raise RagError("no model file")

    with caplog.at_level(logging.INFO, logger="test-warm-up"):
        warming = WarmUp([("model", missing), ("index", finished.set)], log).start()
        assert finished.wait(10)
        warming.stop()
    assert "not loaded: model: no model file" in caplog.text and "loaded index" in caplog.text
