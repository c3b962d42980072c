"""The OpenAPI document against the app it describes: every /api/v1 and /v1 route is in it and
nothing else, it is valid OpenAPI 3.1, and every response the tests provoke (successes and
errors, JSON and server-sent events) has a documented status and validates against its
documented schema."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openapi_spec_validator
import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from ingest.embedding import HashingEmbedder
from rag.choices import GRAPH_STRATEGIES, MODE_NAMES, RETRIEVAL_METHODS
from rag.engine import Engine
from rag.serving import package_version
from rag.settings import Settings
from tests.web.conftest import DEMO_FILES, make_app, upload, wait_job
from web.app import create_app

URI = "urn:rag-kg:openapi"
SMALL = [p for p in DEMO_FILES if p.suffix in (".md", ".txt")][:2]


def template(rule: str) -> str:
    """A Flask rule as an OpenAPI path: `<doc_id>` or `<int:n>` → `{doc_id}`, `{n}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class Spec:
    """The document, and a checker that holds each response to it."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry: Registry[Any] = Registry().with_resource(  # type: ignore[call-arg]
            URI, DRAFT202012.create_resource(doc)
        )
        self.seen: set[tuple[str, int]] = set()  # (operationId, status) of checked responses

    def validate(self, data: Any, *parts: str) -> None:
        """`data` against the schema at `parts` inside the document; $refs resolve in it."""
        schema = {"$ref": URI + "#" + pointer(*parts)}
        errors = list(Draft202012Validator(schema, registry=self.registry).iter_errors(data))
        assert not errors, f"{'/'.join(parts)}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )

    def check(self, client: FlaskClient, method: str, url: str, **kw: Any) -> TestResponse:
        """Send the request, then fail unless the response is documented and matches."""
        resp = client.open(url, method=method, **kw)
        app: Flask = client.application
        rule, _ = app.url_map.bind("localhost").match(
            urlsplit(url).path, method=method, return_rule=True
        )
        path, verb, status = template(rule.rule), method.lower(), str(resp.status_code)
        op = self.doc["paths"][path][verb]
        documented = op["responses"].get(status)
        body = resp.get_data(as_text=True)
        assert documented is not None, (
            f"{method} {url} answered {status}, not documented for {path}: {body[:300]}"
        )
        assert resp.mimetype in documented.get("content", {}), (
            f"{method} {url} answered {status} as {resp.mimetype}, not documented"
        )
        where = ("paths", path, verb, "responses", status, "content", resp.mimetype)
        if resp.mimetype == "text/event-stream":
            events = documented["content"][resp.mimetype]["x-events"]
            for name, data in sse_events(body):
                assert name in events, f"{method} {url}: event {name!r} is not documented"
                self.validate(data, *where, "x-events", name)
        else:
            self.validate(resp.json, *where, "schema")
            if "x-error-codes" in documented:  # an error body (health's 503 is a Health)
                assert resp.json["error"]["code"] in documented["x-error-codes"], (
                    f"{method} {url} answered {status} with code {resp.json['error']['code']!r}, "
                    f"not among {documented['x-error-codes']}"
                )
        self.seen.add((op["operationId"], resp.status_code))
        return resp

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, ops in self.doc["paths"].items():
            for verb, op in ops.items():
                yield path, verb, op


def sse_events(text: str) -> list[tuple[str, Any]]:
    """(event name, parsed JSON data) of each event of a text/event-stream body."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith(":"):  # a comment: the stream's first byte
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data and data != ["[DONE]"]:  # the OpenAI stream's last line is not JSON
            events.append((name, json.loads("\n".join(data))))
    return events


@pytest.fixture(scope="module")
def spec(demo_app: Flask) -> Spec:
    resp = demo_app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return Spec(resp.json)


def successes(spec: Spec) -> set[str]:
    return {op_id for op_id, status in spec.seen if status < 300}


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


# --- the document itself ---------------------------------------------------------------------


def test_every_api_route_is_documented_and_nothing_else(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").json
    routes = {
        (template(r.rule), m.lower())
        for r in app.url_map.iter_rules()
        if r.rule.startswith(("/api/v1/", "/v1/"))
        for m in (r.methods or ()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, verb) for path, ops in doc["paths"].items() for verb in ops}
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations the app does not have"
    for path, ops in doc["paths"].items():
        for op in ops.values():
            in_path = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            assert in_path == re.findall(r"{([^}]+)}", path), path


def test_document_is_valid_openapi_3_1(spec: Spec) -> None:
    doc = spec.doc
    openapi_spec_validator.validate(doc)  # raises on any violation of the OAS 3.1 schema
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["version"] == package_version()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    schemas = list(doc["components"]["schemas"].values())
    for node in walk(doc["paths"]):
        if isinstance(node.get("schema"), dict):
            schemas.append(node["schema"])
        schemas += node.get("x-events", {}).values()
    for schema in schemas:
        Draft202012Validator.check_schema(schema)
    resolver = spec.registry.resolver(URI)
    refs = {n["$ref"] for n in walk(doc) if isinstance(n.get("$ref"), str)}
    assert refs, "the document uses components"
    for r in refs:
        resolver.lookup(r)  # raises if it does not resolve


def test_error_responses_name_their_codes(spec: Spec) -> None:
    for path, verb, op in spec.operations():
        for status, resp in op["responses"].items():
            if int(status) >= 400 and (path, status) != ("/api/v1/health", "503"):
                assert resp["x-error-codes"], (path, verb, status)
                error = "OpenAIError" if path.startswith("/v1/") else "Error"
                assert resp["content"]["application/json"]["schema"] == {
                    "$ref": f"#/components/schemas/{error}"
                }


def test_every_operation_is_exercised_by_these_tests(spec: Spec) -> None:
    ids = {op["operationId"] for _, _, op in spec.operations()}
    assert ids == READS | WRITES


# --- responses, as documented ----------------------------------------------------------------

READS = {
    "list_documents",
    "get_document",
    "list_jobs",
    "get_job",
    "retrieve",
    "ask",
    "graph_entities",
    "graph_entity",
    "graph_relation",
    "graph_subgraph",
    "graph_communities",
    "health",
    "document",
    "list_models",
    "get_model",
    "chat_completions",
}
WRITES = {"upload", "reingest", "delete_document", "cancel_job", "retry_job"}


def test_read_routes_answer_as_documented(demo_app: Flask, spec: Spec) -> None:
    c = demo_app.test_client()
    spec.seen.clear()
    docs = spec.check(c, "GET", "/api/v1/documents?per_page=200").json["documents"]
    assert len(docs) == len(DEMO_FILES)
    for url in (
        "/api/v1/documents?page=2&per_page=3",
        "/api/v1/documents?q=lora",
        "/api/v1/documents?status=ready",
        "/api/v1/documents?status=failed",
    ):
        spec.check(c, "GET", url)
    for d in docs:
        spec.check(c, "GET", f"/api/v1/documents/{d['id']}")
    jobs = spec.check(c, "GET", "/api/v1/jobs").json["jobs"]
    spec.check(c, "GET", f"/api/v1/jobs/{jobs[0]['id']}")

    question = "QLoRA 是什么？"
    for mode in MODE_NAMES:
        spec.check(c, "POST", "/api/v1/retrieve", json={"question": question, "mode": mode})
        spec.check(c, "POST", "/api/v1/ask", json={"question": question, "mode": mode, "k": 3})
    for strategy in GRAPH_STRATEGIES:
        body = {"question": question, "mode": "graph", "strategy": strategy}
        spec.check(c, "POST", "/api/v1/retrieve", json=body)
    for method in RETRIEVAL_METHODS:
        body = {
            "question": question,
            "method": method,
            "k": 2,
            "filters": {"doc_ids": [docs[0]["id"]], "path_glob": None},
        }
        spec.check(c, "POST", "/api/v1/retrieve", json=body)
    spec.check(
        c,
        "POST",
        "/api/v1/retrieve",
        json={
            "question": question,
            "filters": {"path_glob": "*_zh*"},
            "mode": None,
            "strategy": None,
            "k": None,
            "method": None,
        },
    )

    entities = spec.check(c, "GET", "/api/v1/graph/entities").json["entities"]
    assert entities
    spec.check(c, "GET", "/api/v1/graph/entities?q=lora&limit=3")
    detail = spec.check(c, "GET", f"/api/v1/graph/entities/{entities[0]['id']}").json
    spec.check(c, "GET", f"/api/v1/graph/entities/{entities[0]['name']}")
    assert detail["relations"]
    spec.check(c, "GET", f"/api/v1/graph/relations/{detail['relations'][0]['id']}")
    pair = ",".join(e["id"] for e in entities[:2])
    spec.check(c, "GET", f"/api/v1/graph/subgraph?entities={pair}&depth=2&limit=20")
    spec.check(c, "GET", f"/api/v1/graph/subgraph?chunks={detail['chunks'][0]['chunk_id']}")
    spec.check(c, "GET", "/api/v1/graph/subgraph")
    spec.check(c, "GET", "/api/v1/graph/communities")
    spec.check(c, "GET", "/api/v1/graph/communities?level=0")
    spec.check(c, "GET", "/api/v1/health")
    spec.check(c, "GET", "/api/v1/openapi.json")

    models = spec.check(c, "GET", "/v1/models").json["data"]
    for m in models:
        spec.check(c, "GET", f"/v1/models/{m['id']}")
    messages = [{"role": "user", "content": question}]
    for m in models:
        for stream in (False, True):
            body = {"model": m["id"], "messages": messages, "stream": stream, "k": 2}
            spec.check(c, "POST", "/v1/chat/completions", json=body)
    spec.check(c, "POST", "/v1/chat/completions", json={
        "model": "rag", "messages": messages, "stream": True, "stream_options": {
            "include_usage": True}, "filters": {"metadata": {"x": ["y"]}, "path_glob": None},
        "method": "bm25", "n": 1, "strategy": None, "temperature": 0})  # fmt: skip
    housekeeping = '### Task:\nTitle.\n{ "title": "t" }\n<chat_history>\nUSER: hi\n</chat_history>'
    for stream in (False, True):
        spec.check(c, "POST", "/v1/chat/completions", json={
            "model": "kag", "messages": [{"role": "user", "content": housekeeping}],
            "stream": stream})  # fmt: skip
    assert successes(spec) == READS
    assert all(status < 300 for _, status in spec.seen), spec.seen


def test_write_routes_answer_as_documented(app: Flask, spec: Spec, tmp_path: Path) -> None:
    c = app.test_client()
    spec.seen.clear()
    files = [(io.BytesIO(p.read_bytes()), "team/" + p.name) for p in SMALL]
    resp = spec.check(
        c,
        "POST",
        "/api/v1/documents",
        content_type="multipart/form-data",
        data={"file": files, "metadata": json.dumps({"team": "a"})},
    )
    assert resp.status_code == 202
    job = resp.json["job"]
    spec.check(c, "GET", "/api/v1/documents")  # rows of files still in the job, if any are
    spec.check(c, "GET", f"/api/v1/jobs/{job['id']}")
    assert wait_job(app, job["id"])["state"] == "done"
    spec.check(c, "POST", f"/api/v1/jobs/{job['id']}/cancel")  # finished: a no-op
    assert spec.check(c, "POST", f"/api/v1/jobs/{job['id']}/retry").status_code == 409

    empty = spec.check(
        c,
        "POST",
        "/api/v1/documents",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b""), "empty.txt")},
    ).json["job"]
    assert wait_job(app, empty["id"])["state"] == "failed"
    spec.check(c, "GET", "/api/v1/documents?status=failed")
    again = spec.check(c, "POST", f"/api/v1/jobs/{empty['id']}/retry")
    assert again.status_code == 202
    wait_job(app, again.json["job"]["id"])

    docs = spec.check(c, "GET", "/api/v1/documents?status=ready").json["documents"]
    assert [d["metadata"] for d in docs] == [{"team": "a"}] * len(SMALL)
    doc_id = docs[0]["id"]
    job = spec.check(c, "POST", f"/api/v1/documents/{doc_id}/reingest").json["job"]
    assert wait_job(app, job["id"])["state"] == "done"
    assert spec.check(c, "DELETE", f"/api/v1/documents/{doc_id}").status_code == 200
    assert spec.check(c, "DELETE", f"/api/v1/documents/{doc_id}").status_code == 404
    assert successes(spec) >= WRITES


# --- error statuses, as documented -----------------------------------------------------------


def test_bad_requests_are_documented_400s(demo_app: Flask, spec: Spec) -> None:
    c = demo_app.test_client()
    for url in ("/api/v1/retrieve", "/api/v1/ask"):
        for raw in ("{", "[1]", "", "null"):
            resp = spec.check(c, "POST", url, data=raw, content_type="application/json")
            assert resp.status_code == 400, raw
        for body in (
            {},
            {"question": "  "},
            {"question": 1},
            {"question": "q", "k": "3"},
            {"question": "q", "k": True},
            {"question": "q", "mode": 5},
            {"question": "q", "filters": []},
            {"question": "q", "filters": {"x": 1}},
            {"question": "q", "filters": {"doc_ids": "a"}},
            {"question": "q", "x": 1},
        ):
            assert spec.check(c, "POST", url, json=body).status_code == 400, body
    assert (
        spec.check(c, "POST", "/api/v1/ask", json={"question": "q", "stream": "yes"}).status_code
        == 400
    )
    messages = [{"role": "user", "content": "q"}]
    for body in (
        {"model": "rag"},
        {"model": "rag", "messages": [{"role": "x"}]},
        {"model": "rag", "messages": messages, "stream": "yes"},
        {"model": "rag", "messages": messages, "filters": {"x": 1}},
    ):
        assert spec.check(c, "POST", "/v1/chat/completions", json=body).status_code == 400
    for body in ({"model": "gpt-4", "messages": messages}, {"messages": messages}):
        assert spec.check(c, "POST", "/v1/chat/completions", json=body).status_code == 404
    assert spec.check(c, "GET", "/v1/models/gpt-4").status_code == 404
    body = {"model": "rag", "messages": messages, "k": 0}
    assert spec.check(c, "POST", "/v1/chat/completions", json=body).status_code == 422
    for url in (
        "/api/v1/documents?page=abc",
        "/api/v1/graph/entities?limit=x",
        "/api/v1/graph/communities?level=x",
        "/api/v1/graph/subgraph?depth=x",
    ):
        assert spec.check(c, "GET", url).status_code == 400, url
    for data in (
        {},
        {"file": (io.BytesIO(b"hi"), "a.txt"), "metadata": "[1]"},
        {"file": (io.BytesIO(b"hi"), "a.txt"), "metadata": "{"},
        {"file": [(io.BytesIO(b"a"), "x/a.txt"), (io.BytesIO(b"b"), "x/a.txt")]},
        {"file": (io.BytesIO(b"hi"), "..")},
    ):
        resp = spec.check(
            c, "POST", "/api/v1/documents", data=data, content_type="multipart/form-data"
        )
        assert resp.status_code == 400, data


def test_unknown_things_are_documented_404s(demo_app: Flask, app: Flask, spec: Spec) -> None:
    c = demo_app.test_client()
    for method, url in (
        ("GET", "/api/v1/documents/nope"),
        ("DELETE", "/api/v1/documents/nope"),
        ("POST", "/api/v1/documents/nope/reingest"),
        ("GET", "/api/v1/jobs/nope"),
        ("POST", "/api/v1/jobs/nope/cancel"),
        ("POST", "/api/v1/jobs/nope/retry"),
        ("GET", "/api/v1/graph/entities/nope"),
        ("GET", "/api/v1/graph/relations/nope"),
        ("GET", "/api/v1/graph/subgraph?entities=nope,nada"),
    ):
        assert spec.check(c, method, url).status_code == 404, url
    empty = app.test_client()  # no store yet
    for method, url, body in (
        ("POST", "/api/v1/retrieve", {"question": "q"}),
        ("POST", "/api/v1/ask", {"question": "q"}),
        ("GET", "/api/v1/documents/x", None),
        ("GET", "/api/v1/graph/entities", None),
        ("GET", "/api/v1/graph/subgraph", None),
        ("GET", "/api/v1/graph/communities", None),
    ):
        resp = spec.check(empty, method, url, json=body)
        assert (resp.status_code, resp.json["error"]["code"]) == (404, "store_not_found")


def test_unsupported_and_too_large_uploads(spec: Spec, tmp_path: Path) -> None:
    big = b"word " * 2000
    a = make_app(tmp_path / "a", max_file_mb=0.005)
    b = make_app(tmp_path / "b", max_upload_mb=0.005)
    try:
        resp = spec.check(
            a.test_client(),
            "POST",
            "/api/v1/documents",
            content_type="multipart/form-data",
            data={"file": [(io.BytesIO(b"x"), "a.txt"), (io.BytesIO(b"x"), "b.exe")]},
        )
        assert resp.status_code == 415
        for app in (a, b):  # one file over max_file_mb; the request over max_upload_mb
            resp = spec.check(
                app.test_client(),
                "POST",
                "/api/v1/documents",
                content_type="multipart/form-data",
                data={"file": (io.BytesIO(big), "big.txt")},
            )
            assert resp.status_code == 413
    finally:
        a.extensions["rag"].close()
        b.extensions["rag"].close()


def test_invalid_values_are_documented_422s(demo_app: Flask, spec: Spec) -> None:
    c = demo_app.test_client()
    for body in (
        {"question": "q", "mode": "x"},
        {"question": "q", "k": 0},
        {"question": "q", "method": "x"},
        {"question": "q", "mode": "graph", "strategy": "x"},
    ):
        for url in ("/api/v1/retrieve", "/api/v1/ask"):
            assert spec.check(c, "POST", url, json=body).status_code == 422, body
    assert (
        spec.check(
            c, "POST", "/api/v1/ask", json={"question": "q", "k": 0, "stream": True}
        ).status_code
        == 422
    )
    assert spec.check(c, "GET", "/api/v1/documents?status=zz").status_code == 422


def test_query_parameters_bounds_are_the_servers(demo_app: Flask, spec: Spec) -> None:
    """Each documented integer bound and enum of a query parameter is where the server's is."""
    c = demo_app.test_client()
    for path, verb, op in spec.operations():
        if verb != "get" or "{" in path:
            continue
        for p in op.get("parameters", []):
            s, name = p["schema"], p["name"]
            if s.get("type") == "integer":
                for value, ok in (
                    (s["minimum"], True),
                    (s["maximum"], True),
                    (s["minimum"] - 1, False),
                    (s["maximum"] + 1, False),
                ):
                    resp = spec.check(c, "GET", f"{path}?{name}={value}")
                    assert (resp.status_code == 200) == ok, (path, name, value, resp.json)
            for value in s.get("enum", []):
                assert spec.check(c, "GET", f"{path}?{name}={value}").status_code == 200
            if "enum" in s:
                assert spec.check(c, "GET", f"{path}?{name}=nope").status_code == 422


BODIES = [
    {"question": "QLoRA"},
    {
        "question": "QLoRA",
        "mode": None,
        "strategy": None,
        "k": None,
        "method": None,
        "filters": None,
    },
    {"question": "QLoRA", "mode": "graph", "strategy": "ppr", "k": 1, "method": "bm25"},
    {"question": "QLoRA", "filters": {}},
    {"question": "QLoRA", "filters": {"doc_ids": None, "path_glob": "*.md"}},
    {"question": ""},
    {"question": "QLoRA", "k": 0},
    {"question": "QLoRA", "k": 2.5},
    {"question": "QLoRA", "mode": "x"},
    {"question": "QLoRA", "mode": "graph", "strategy": "x"},
    {"question": "QLoRA", "method": "x"},
    {"question": "QLoRA", "filters": {"doc_ids": [1]}},
    {"question": "QLoRA", "stream": False},  # /ask only
    {"question": "QLoRA", "mode": "rag", "strategy": "x"},  # checked in every mode
]


@pytest.mark.parametrize("body", BODIES)
def test_request_schema_accepts_what_the_server_accepts(
    demo_app: Flask, spec: Spec, body: dict[str, Any]
) -> None:
    c = demo_app.test_client()
    schema = {"$ref": URI + "#/components/schemas/QueryRequest"}
    accepts = Draft202012Validator(schema, registry=spec.registry).is_valid(body)
    resp = spec.check(c, "POST", "/api/v1/retrieve", json=body)
    assert accepts == (resp.status_code == 200), resp.json
    ask_schema = {"$ref": URI + "#/components/schemas/AskRequest"}
    assert Draft202012Validator(ask_schema, registry=spec.registry).is_valid(body) == (
        accepts or set(body) == {"question", "stream"}
    )


def test_api_key_refusals_are_documented_401s(spec: Spec, tmp_path: Path) -> None:
    app = make_app(tmp_path, api_key="s3cret")
    c = app.test_client()
    try:
        for path, verb, op in spec.operations():
            url = re.sub(r"{[^}]+}", "x", path)
            resp = spec.check(c, verb.upper(), url)
            if op.get("security") == []:  # open: the health check
                assert resp.status_code != 401, path
            else:
                assert resp.status_code == 401, (verb, path)
                assert "401" in op["responses"]
        key = {"Authorization": "Bearer s3cret"}
        assert spec.check(c, "GET", "/api/v1/openapi.json", headers=key).status_code == 200
        assert spec.check(c, "GET", "/api/v1/jobs", headers=key).status_code == 200
    finally:
        app.extensions["rag"].close()


def test_missing_models_are_documented_503s(spec: Spec, tmp_path: Path) -> None:
    """A server whose generator is not installed: health is degraded, answers are 503s (or an
    error event in a stream), retrieval still works."""
    s = Settings.from_env(
        {"HOME": str(tmp_path / "home")}, store_dir=tmp_path / "store", embedder="hashing"
    )
    app = create_app(engine=Engine(s, embedder=HashingEmbedder()))
    c = app.test_client()
    try:
        health = spec.check(c, "GET", "/api/v1/health")
        assert (health.status_code, health.json["status"]) == (503, "degraded")
        job = upload(c, SMALL[:1]).json["job"]
        assert wait_job(app, job["id"])["state"] == "done"
        assert spec.check(c, "POST", "/api/v1/retrieve", json={"question": "q"}).status_code == 200
        resp = spec.check(c, "POST", "/api/v1/ask", json={"question": "LoRA"})
        assert (resp.status_code, resp.json["error"]["code"]) == (503, "model_not_installed")
        resp = spec.check(c, "POST", "/api/v1/ask", json={"question": "LoRA", "stream": True})
        events = sse_events(resp.get_data(as_text=True))
        assert [name for name, _ in events][-1] == "error"
    finally:
        app.extensions["rag"].close()


# --- server-sent events ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_answer_stream_events_are_documented(demo_app: Flask, spec: Spec, mode: str) -> None:
    c = demo_app.test_client()
    resp = spec.check(
        c, "POST", "/api/v1/ask", json={"question": "QLoRA 是什么？", "mode": mode, "stream": True}
    )
    assert resp.mimetype == "text/event-stream"
    names = [name for name, _ in sse_events(resp.get_data(as_text=True))]
    assert names[0] == "sources" and names[-1] == "done", names
    assert set(names[1:-1]) == {"token"}, names


def test_a_stream_that_fails_ends_with_a_documented_error_event(spec: Spec, tmp_path: Path) -> None:
    from tests.web.test_api import FailingGenerator, one_doc_app

    app = one_doc_app(tmp_path, generator=FailingGenerator())
    try:
        resp = spec.check(
            app.test_client(), "POST", "/api/v1/ask", json={"question": "pear", "stream": True}
        )
        events = sse_events(resp.get_data(as_text=True))
        assert [name for name, _ in events] == ["sources", "token", "token", "error"]
        assert events[-1][1]["error"]["code"] == "generation_failed"
    finally:
        app.extensions["rag"].close()


def test_a_stream_over_no_store_is_a_documented_404(app: Flask, spec: Spec) -> None:
    resp = spec.check(
        app.test_client(), "POST", "/api/v1/ask", json={"question": "q", "stream": True}
    )
    assert resp.status_code == 404 and resp.json["error"]["code"] == "store_not_found"


# --- Swagger UI ------------------------------------------------------------------------------


def test_api_docs_page_loads_only_local_swagger_ui(client: FlaskClient) -> None:
    resp = client.get("/api/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "://" not in html, "no CDN, no absolute URL"
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(refs) == [
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
    ]
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    for r in refs:
        asset = client.get(r)
        assert asset.status_code == 200 and len(asset.data) > 10_000, r
        asset.close()
