"""Schemathesis against /api/v1/openapi.json, bounded for CI: every operation, schema-valid and
schema-breaking requests, every response checked (tests/web/api_fuzz.py says which checks).
scripts/fuzz_api.py runs the same with many more requests. Two more tests break the server on
purpose to show the fuzzer would notice: a 500, and a key that is not enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.web.api_fuzz import (
    SCHEMA_PATH,
    OperationReport,
    fuzz,
    make_fuzz_app,
    multipart_as_sent_is_valid,
    query_as_sent_is_valid,
)

EXAMPLES = 6  # per operation and generation mode: about 150 requests


def documented_operations(app: Flask) -> set[str]:
    doc = app.test_client().get("/api/v1/openapi.json").json
    return {f"{verb.upper()} {path}" for path, ops in doc["paths"].items() for verb in ops}


def summary(reports: list[OperationReport]) -> str:
    return "\n\n".join(f"{r.label}: {title}\n{full[:1500]}"
                       for r in reports for title, full in r.failures.items())  # fmt: skip


def test_no_5xx_and_no_response_off_the_document(tmp_path: Path) -> None:
    app = make_fuzz_app(tmp_path)
    reports = fuzz(app, EXAMPLES)
    # all but the document itself, which schemathesis leaves out
    assert {r.label for r in reports} == documented_operations(app) - {"GET " + SCHEMA_PATH}
    assert not any(r.failures for r in reports), summary(reports)
    statuses = {s for r in reports for s in r.statuses}
    assert max(statuses) < 500
    assert {200, 202, 400, 404, 422} <= statuses  # the fuzzer got past validation, and not
    assert all(r.requests for r in reports) and sum(r.requests for r in reports) >= 120
    app.extensions["rag"].close()


def test_with_a_key_nothing_is_served_without_it(tmp_path: Path) -> None:
    """schemathesis's ignored_auth check resends requests without the key and with a wrong one."""
    app = make_fuzz_app(tmp_path, api_key="fuzz-s3cret")
    doc = app.test_client().get("/api/v1/openapi.json",
                                headers={"Authorization": "Bearer fuzz-s3cret"}).json  # fmt: skip
    assert doc["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
    reports = fuzz(app, 4, api_key="fuzz-s3cret")
    assert not any(r.failures for r in reports), summary(reports)
    app.extensions["rag"].close()


def test_the_fuzzer_reports_a_server_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_fuzz_app(tmp_path)
    engine = app.extensions["rag"].default.engine

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in retrieval")

    monkeypatch.setattr(engine, "context", broken)
    [report] = fuzz(app, 5, only=lambda label: label == "POST /api/v1/retrieve")
    assert report.statuses.get(500), report.statuses
    assert any("Server error" in title for title in report.failures), list(report.failures)
    app.extensions["rag"].close()


def test_the_fuzzer_reports_a_key_that_is_not_enforced(tmp_path: Path) -> None:
    """A document that asks for a key (RAG_API_KEY set after the app was made, so no check
    was installed) over a server that serves without one: ignored_auth fails."""
    app = make_fuzz_app(tmp_path)
    app.config["RAG_API_KEY"] = "never-checked"
    [report] = fuzz(app, 3, api_key="never-checked", only=lambda label: label == "GET /api/v1/jobs")
    assert any("authentication" in title for title in report.failures), list(report.failures)
    app.extensions["rag"].close()


def test_a_query_is_judged_as_it_was_sent(tmp_path: Path) -> None:
    """The one schemathesis verdict the driver overrules ("invalid data accepted" for a query
    or multipart body that serialising made valid) is overruled only when what was sent
    really is valid."""
    app = make_fuzz_app(tmp_path)
    op = app.test_client().get(SCHEMA_PATH).json["paths"]["/api/v1/graph/subgraph"]["get"]
    base = "http://localhost/api/v1/graph/subgraph?"
    assert query_as_sent_is_valid(op, base + "entities=false&chunks=4000717")
    assert query_as_sent_is_valid(op, base + "limit=&depth=2.0")
    assert not query_as_sent_is_valid(op, base + "limit=abc")
    assert not query_as_sent_is_valid(op, base + "depth=9")
    assert not query_as_sent_is_valid(op, base + "depth=1&depth=2")
    retrieve = app.test_client().get(SCHEMA_PATH).json["paths"]["/api/v1/retrieve"]["post"]
    assert not query_as_sent_is_valid(retrieve, "http://localhost/api/v1/retrieve")
    upload = app.test_client().get(SCHEMA_PATH).json["paths"]["/api/v1/documents"]["post"]
    assert multipart_as_sent_is_valid(upload, {"file": [b"PNG"], "metadata": []})
    assert not multipart_as_sent_is_valid(upload, {"file": [b"PNG"], "metadata": [1]})
    assert not multipart_as_sent_is_valid(upload, {"file": [], "metadata": {"a": "b"}})
    assert not multipart_as_sent_is_valid(retrieve, {"question": "x"})
    app.extensions["rag"].close()
