"""`rag eval` on a set with unanswerable questions: refusals counted, EM/F1 over the rest."""

from __future__ import annotations

from pathlib import Path

from rag.evaluation import format_report, run_eval
from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from tests.conftest import scripted_engine

ABSTAIN = Path(__file__).resolve().parents[2] / "corpora" / "demo_abstain"


def _refuse_on_years(messages: list[Message]) -> str:
    """Refuses every question that asks for a year or a company, answers the rest."""
    question = messages[-1]["content"].rsplit("\n", 2)[-2]
    if any(w in question for w in ("year", "哪一年", "公司", "company")):
        return "I don't know."
    return "RLAIF [1]"


def test_refusals_and_answers_are_counted_apart(tmp_path: Path) -> None:
    with scripted_engine(tmp_path, ScriptedGenerator(_refuse_on_years)) as engine:
        r = run_eval(ABSTAIN, engine.settings, progress=False, engine=engine)
    assert r["questions"] == 44
    refused_unanswerable = sum(1 for i in r["items"] if not i["answers"] and i["refused"])
    assert r["refusals"] == {
        "unanswerable": 20, "refused": refused_unanswerable,
        "answerable": 24, "answered": sum(1 for i in r["items"] if i["answers"] and not i["refused"]),
    }  # fmt: skip
    assert 0 < refused_unanswerable < 20  # the years and companies only
    assert all("em" not in i for i in r["items"] if not i["answers"])  # not scored as wrong
    assert r["em"] is not None and r["em"] > 0  # "RLAIF" is right for one answerable question
    assert "refused" in format_report(r) and "first token p50" in format_report(r)
