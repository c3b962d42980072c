"""The REST API through Flask's test client: every endpoint, every error status and its JSON body,
uploaded names, what a request may touch on disk, listing filters, answer streams and the graph.

Read-only tests share `demo_app` (the demo corpus uploaded through the API); tests that write
build their own app over a fresh store in tmp_path.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ingest.embedding import HashingEmbedder
from rag.engine import Engine
from rag.generation.base import GenerationError, Message
from rag.generation.scripted import ScriptedGenerator
from rag.modes.registry import DEFAULT_GRAPH_STRATEGY
from rag.settings import Settings
from tests.web.conftest import (
    ANSWER,
    DEMO_FILES,
    GatedEmbedder,
    every_file,
    make_app,
    make_engine_app,
    post_files,
    wait_job,
)
from web import jobs as jobs_module
from web.app import create_app
from web.workspace import safe_relative_path

API = "/api/v1"
PEARS = b"# Pear orchards\n\nPear trees grow in orchards and flower in early spring.\n"
ROW_KEYS = {
    "id",
    "name",
    "source",
    "title",
    "format",
    "size",
    "pages",
    "chunks",
    "entities",
    "ingested_at",
    "status",
    "metadata",
    "error",
    "job",
}
SOURCE_KEYS = {"n", "chunk_id", "doc_id", "document", "title", "location", "score", "text"}


def error_of(resp: Any, status: int, code: str) -> str:
    """Assert the one error shape of the API; the message, for tests that check it."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json, resp.headers.get("Content-Type")
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip(), body
    return str(message)


def sse_events(resp: Any) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a text/event-stream body; comments are skipped."""
    events = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        lines = [ln for ln in block.split("\n") if ln and not ln.startswith(":")]
        if not lines:
            continue
        fields = dict(ln.split(": ", 1) for ln in lines)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def demo_doc(client: FlaskClient, name: str) -> dict[str, Any]:
    rows = client.get(f"{API}/documents", query_string={"per_page": 200}).json["documents"]
    return next(r for r in rows if r["name"] == name)


def one_doc_app(tmp: Path, **kwargs: Any) -> Flask:
    """An app over a store holding one small Markdown file, uploaded through the API."""
    a = make_engine_app(tmp, **kwargs)
    resp = post_files(a.test_client(), [("pears.md", PEARS)])
    assert resp.status_code == 202, resp.json
    assert wait_job(a, resp.json["job"]["id"])["state"] == "done"
    return a


@pytest.fixture
def pears_app(tmp_path: Path) -> Iterator[Flask]:
    a = one_doc_app(tmp_path, write_wait=0.2)
    yield a
    a.extensions["rag"].close()


# --- 400: the body is not JSON, or a field is missing or of the wrong type ------------------------

BAD_QUERY_BODIES = [
    pytest.param({}, id="no-question"),
    pytest.param({"question": "   "}, id="blank-question"),
    pytest.param({"question": 5}, id="question-not-a-string"),
    pytest.param({"question": "x", "k": "5"}, id="k-string"),
    pytest.param({"question": "x", "k": True}, id="k-bool"),
    pytest.param({"question": "x", "k": 1.5}, id="k-float"),
    pytest.param({"question": "x", "mode": 3}, id="mode-not-a-string"),
    pytest.param({"question": "x", "method": ["dense"]}, id="method-list"),
    pytest.param({"question": "x", "colour": "red"}, id="unknown-field"),
    pytest.param({"question": "x", "filters": "doc"}, id="filters-not-object"),
    pytest.param({"question": "x", "filters": {"path": "*.md"}}, id="unknown-filter"),
    pytest.param({"question": "x", "filters": {"doc_ids": "abc"}}, id="doc_ids-string"),
    pytest.param({"question": "x", "filters": {"doc_ids": [1]}}, id="doc_ids-ints"),
    pytest.param({"question": "x", "filters": {"path_glob": 3}}, id="path_glob-int"),
]


@pytest.mark.parametrize("endpoint", ["retrieve", "ask"])
@pytest.mark.parametrize("body", BAD_QUERY_BODIES)
def test_query_fields_of_the_wrong_shape_are_400(
    client: FlaskClient, endpoint: str, body: dict[str, Any]
) -> None:
    error_of(client.post(f"{API}/{endpoint}", json=body), 400, "bad_request")


@pytest.mark.parametrize("endpoint", ["retrieve", "ask"])
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("question=x", "application/x-www-form-urlencoded"),
        ('{"question": ', "application/json"),
        ('["question"]', "application/json"),
        ('"question"', "application/json"),
        ('{"question": "x"}', "text/plain"),
    ],
    ids=["form", "truncated-json", "json-array", "json-string", "json-as-text-plain"],
)
def test_a_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, endpoint: str, data: str, content_type: str
) -> None:
    msg = error_of(
        client.post(f"{API}/{endpoint}", data=data, content_type=content_type), 400, "bad_request"
    )
    assert "JSON object" in msg


def test_stream_must_be_a_boolean_and_only_ask_takes_it(client: FlaskClient) -> None:
    error_of(client.post(f"{API}/ask", json={"question": "x", "stream": "yes"}), 400, "bad_request")
    msg = error_of(
        client.post(f"{API}/retrieve", json={"question": "x", "stream": True}), 400, "bad_request"
    )
    assert "stream" in msg


@pytest.mark.parametrize(
    ("form", "files"),
    [
        ({}, []),
        ({"file": "not a file"}, []),
        ({"metadata": "{not json"}, [("a.md", PEARS)]),
        ({"metadata": "[1, 2]"}, [("a.md", PEARS)]),
        ({}, [("a.md", PEARS), ("a.md", PEARS)]),
        ({}, [("a.md", PEARS), (".a.md", PEARS)]),
        ({}, [("..", PEARS)]),
        ({}, [("./../", PEARS)]),
    ],
    ids=[
        "no-file",
        "file-as-text-field",
        "metadata-not-json",
        "metadata-array",
        "same-name-twice",
        "same-name-after-sanitising",
        "name-dotdot",
        "name-only-dots",
    ],
)
def test_bad_uploads_are_400_and_queue_nothing(
    app: Flask, tmp_path: Path, form: dict[str, str], files: list[tuple[str, bytes]]
) -> None:
    client = app.test_client()
    before = every_file(tmp_path)
    if files:
        resp = post_files(client, files, **form)
    else:
        resp = client.post(f"{API}/documents", data=form, content_type="multipart/form-data")
    error_of(resp, 400, "bad_request")
    assert client.get(f"{API}/jobs").json == {"jobs": []}
    staged = [p for p in every_file(tmp_path) - before if p.is_file()]
    assert staged == [], "a refused upload left files behind"


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/documents?page=two",
        f"{API}/documents?per_page=1.5",
        f"{API}/graph/entities?limit=ten",
        f"{API}/graph/subgraph?depth=deep",
        f"{API}/graph/communities?level=top",
    ],
)
def test_query_string_numbers_that_are_not_numbers_are_400(
    demo_client: FlaskClient, path: str
) -> None:
    error_of(demo_client.get(path), 400, "bad_request")


# --- 422: valid JSON, values the engine cannot take ---------------------------------------------


@pytest.mark.parametrize("endpoint", ["retrieve", "ask"])
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("mode", "x", "mode"),
        ("k", 0, "k"),
        ("k", -3, "k"),
        ("method", "sparse", "method"),
        ("strategy", "nearest", "strategy"),
    ],
)
def test_unknown_choices_and_out_of_range_values_are_422(
    client: FlaskClient, endpoint: str, field: str, value: Any, named: str
) -> None:
    body = {"question": "x", field: value}
    if field == "strategy":
        body["mode"] = "graph"  # where a strategy applies
    msg = error_of(client.post(f"{API}/{endpoint}", json=body), 422, "invalid_value")
    assert named in msg and str(value) in msg


def test_an_unknown_strategy_is_422_in_every_mode(demo_client: FlaskClient) -> None:
    resp = demo_client.post(f"{API}/retrieve", json={"question": "x", "strategy": "nearest"})
    error_of(resp, 422, "invalid_value")


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/documents?status=done",
        f"{API}/documents?page=0",
        f"{API}/documents?per_page=0",
        f"{API}/documents?per_page=201",
        f"{API}/graph/entities?limit=0",
        f"{API}/graph/entities?limit=501",
        f"{API}/graph/subgraph?depth=4",
        f"{API}/graph/subgraph?limit=0",
        f"{API}/graph/communities?level=-1",
    ],
)
def test_query_string_values_out_of_range_are_422(demo_client: FlaskClient, path: str) -> None:
    error_of(demo_client.get(path), 422, "invalid_value")


# --- 401: the API key -------------------------------------------------------------------------

KEY = "k3y-for-tests"


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Flask]:
    a = make_app(tmp_path, api_key=KEY)
    yield a
    a.extensions["rag"].close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/documents"),
        ("POST", "/documents"),
        ("GET", "/documents/abc"),
        ("DELETE", "/documents/abc"),
        ("POST", "/documents/abc/reingest"),
        ("GET", "/jobs"),
        ("GET", "/jobs/abc"),
        ("POST", "/jobs/abc/cancel"),
        ("POST", "/jobs/abc/retry"),
        ("POST", "/retrieve"),
        ("POST", "/ask"),
        ("GET", "/graph/entities"),
        ("GET", "/graph/entities/abc"),
        ("GET", "/graph/subgraph"),
        ("GET", "/graph/relations/abc"),
        ("GET", "/graph/communities"),
        ("GET", "/no-such-route"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
    ],
    ids=["none", "wrong-key", "no-bearer", "basic"],
)
def test_every_api_route_needs_the_key(
    keyed: Flask, tmp_path: Path, method: str, path: str, headers: dict[str, str]
) -> None:
    before = every_file(tmp_path)
    resp = keyed.test_client().open(
        API + path, method=method, headers=headers, json={"question": "x"}
    )
    msg = error_of(resp, 401, "unauthorized")
    assert "Bearer" in msg
    assert every_file(tmp_path) == before  # refused before anything ran


def test_the_right_key_opens_the_api_and_health_needs_none(keyed: Flask) -> None:
    client = keyed.test_client()
    for scheme in ("Bearer", "bearer"):
        resp = client.get(f"{API}/documents", headers={"Authorization": f"{scheme} {KEY}"})
        assert resp.status_code == 200, resp.json
        assert resp.json["total"] == 0
    health = client.get(f"{API}/health")
    assert health.status_code == 200 and health.json["status"] == "ok"


def test_pages_without_the_key_redirect_to_login_with_next(keyed: Flask) -> None:
    resp = keyed.test_client().get("/documents?page=2")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/login?next=/documents%3Fpage%3D2"


def test_login_sets_a_strict_http_only_cookie_that_opens_the_api(keyed: Flask) -> None:
    client = keyed.test_client()
    resp = client.post("/login", data={"key": KEY, "next": "/documents"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/documents"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("rag_session=") and KEY not in cookie  # a token, not the key
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get(f"{API}/documents").status_code == 200  # the cookie, no header
    page = client.get("/documents")
    assert not (page.status_code == 302 and page.headers["Location"].startswith("/login"))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/health/../documents",
        "/api/v1/health%2F..%2Fdocuments",
        "/static/../api/v1/documents",
        "/login/../api/v1/jobs",
        "/static/x/../../api/v1/jobs",
    ],
)
def test_dot_segments_after_an_open_path_reach_nothing_protected(keyed: Flask, path: str) -> None:
    # auth opens /api/v1/health and /login exactly and /static/ by prefix: a path that starts
    # so must not be routed to a protected view (it is refused, sent to log in, or not found)
    resp = keyed.test_client().get(path)
    sent_to_login = resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert resp.status_code in (401, 404) or sent_to_login, resp.get_data(as_text=True)[:200]
    assert b'"documents"' not in resp.data and b'"jobs"' not in resp.data


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "", "documents"]
)
def test_login_only_redirects_to_a_path_on_this_server(keyed: Flask, target: str) -> None:
    resp = keyed.test_client().post("/login", data={"key": KEY, "next": target})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_login_with_a_wrong_key_is_401_and_sets_no_cookie(keyed: Flask) -> None:
    keyed.config["TESTING"] = False  # the error handler, not the test client, answers
    resp = keyed.test_client().post("/login", data={"key": "wrong", "next": "/documents"})
    assert resp.status_code == 401
    assert "Set-Cookie" not in resp.headers


# --- 404 and 405 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/documents/0123456789abcdef", "document_not_found"),
        ("DELETE", "/documents/0123456789abcdef", "document_not_found"),
        ("POST", "/documents/0123456789abcdef/reingest", "document_not_found"),
        ("GET", "/jobs/nojob", "job_not_found"),
        ("POST", "/jobs/nojob/cancel", "job_not_found"),
        ("POST", "/jobs/nojob/retry", "job_not_found"),
        ("GET", "/graph/entities/NoSuchEntity", "entity_not_found"),
        ("GET", "/graph/subgraph?entities=NoSuchEntity,NorThis", "entity_not_found"),
        ("GET", "/graph/relations/0123456789abcdef", "not_found"),
        ("GET", "/no-such-route", "not_found"),
    ],
)
def test_unknown_things_are_404(
    demo_client: FlaskClient, method: str, path: str, code: str
) -> None:
    total = demo_client.get(f"{API}/documents").json["total"]
    error_of(demo_client.open(API + path, method=method), 404, code)
    assert demo_client.get(f"{API}/documents").json["total"] == total


@pytest.mark.parametrize(
    "path",
    [
        "/documents/0123456789abcdef",
        "/graph/entities",
        "/graph/entities/x",
        "/graph/subgraph",
        "/graph/communities",
        "/graph/relations/x",
    ],
)
def test_before_the_first_upload_there_is_no_store_404(
    client: FlaskClient, tmp_path: Path, path: str
) -> None:
    error_of(client.get(API + path), 404, "store_not_found")
    assert not (tmp_path / "store").exists()  # reading never creates the store


def test_a_wrong_method_is_405(client: FlaskClient) -> None:
    error_of(client.put(f"{API}/documents"), 405, "method_not_allowed")
    error_of(client.get(f"{API}/retrieve"), 405, "method_not_allowed")


# --- 409: the store is busy, the queue is full ---------------------------------------------------


def test_delete_while_another_writer_holds_the_store_is_409(pears_app: Flask) -> None:
    client = pears_app.test_client()
    ws = pears_app.extensions["rag"].default
    doc = client.get(f"{API}/documents").json["documents"][0]
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with ws.engine.store.writing():
            held.set()
            release.wait(30)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(10)
        msg = error_of(client.delete(f"{API}/documents/{doc['id']}"), 409, "store_locked")
        assert "writ" in msg
        assert client.get(f"{API}/documents/{doc['id']}").status_code == 200  # still there
        assert Path(doc["source"]).is_file()
    finally:
        release.set()
        t.join()
    resp = client.delete(f"{API}/documents/{doc['id']}")
    assert resp.status_code == 200
    assert [d["id"] for d in resp.json["deleted"]] == [doc["id"]]
    assert not Path(doc["source"]).exists()  # the upload went with it
    error_of(client.get(f"{API}/documents/{doc['id']}"), 404, "document_not_found")


def test_a_full_queue_is_409_queue_full(gated: tuple[Flask, GatedEmbedder], tmp_path: Path) -> None:
    app, emb = gated
    client = app.test_client()
    first = post_files(client, [("first.md", PEARS)]).json["job"]["id"]
    emb.wait_arrival()  # the worker is busy with the first job; the rest wait
    waiting = []
    for i in range(jobs_module.MAX_QUEUED):
        resp = post_files(client, [(f"w{i}.md", PEARS)])
        assert resp.status_code == 202, resp.json
        waiting.append(resp.json["job"]["id"])
    msg = error_of(post_files(client, [("one-too-many.md", PEARS)]), 409, "queue_full")
    assert str(jobs_module.MAX_QUEUED) in msg
    for job_id in waiting:
        assert client.post(f"{API}/jobs/{job_id}/cancel").json["state"] == "cancelled"
    emb.open()
    assert wait_job(app, first)["state"] == "done"
    assert post_files(client, [("after.md", PEARS)]).status_code == 202  # room again


def test_an_upload_refused_as_queue_full_leaves_no_file(
    gated: tuple[Flask, GatedEmbedder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_module, "MAX_QUEUED", 1)  # the limit, lowered: one job may wait
    app, emb = gated
    client = app.test_client()
    post_files(client, [("first.md", PEARS)])
    emb.wait_arrival()
    assert post_files(client, [("waits.md", PEARS)]).status_code == 202
    error_of(post_files(client, [("refused.md", PEARS)]), 409, "queue_full")
    assert not any(p.name == "refused.md" for p in every_file(tmp_path))


# --- 413: over the request limit or the per-file limit -------------------------------------------


def test_a_request_over_max_upload_mb_is_413(tmp_path: Path) -> None:
    app = make_app(tmp_path, max_upload_mb=0.05)  # 51 KiB for the whole request
    try:
        client = app.test_client()
        msg = error_of(post_files(client, [("big.md", b"x" * 80_000)]), 413, "file_too_large")
        assert "limit" in msg
        assert client.get(f"{API}/jobs").json == {"jobs": []}
        assert [p for p in every_file(tmp_path) if p.is_file()] == []
        assert post_files(client, [("small.md", PEARS)]).status_code == 202  # under it: taken
    finally:
        app.extensions["rag"].close()


def test_the_request_limit_in_the_413_message_is_the_real_one(tmp_path: Path) -> None:
    app = make_app(tmp_path, max_upload_mb=0.05)
    try:
        msg = error_of(
            post_files(app.test_client(), [("big.md", b"x" * 80_000)]), 413, "file_too_large"
        )
        assert "limit of 0 MB" not in msg, msg
    finally:
        app.extensions["rag"].close()


def test_a_file_over_max_file_mb_is_413_and_nothing_of_the_upload_is_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path, max_file_mb=0.01)  # 10 KiB a file; the request limit is 200 MB
    try:
        client = app.test_client()
        resp = post_files(client, [("ok.md", PEARS), ("sub/big.md", b"# Big\n\n" + b"y" * 20_000)])
        msg = error_of(resp, 413, "file_too_large")
        assert "sub/big.md" in msg and "RAG_MAX_FILE_MB" in msg
        assert client.get(f"{API}/jobs").json == {"jobs": []}
        uploads = tmp_path / "store" / "uploads"
        assert [p for p in every_file(uploads) if p.is_file()] == []  # ok.md went too
    finally:
        app.extensions["rag"].close()


# --- 415: a file type the loaders do not read ---------------------------------------------------


@pytest.mark.parametrize("bad", ["tool.exe", "README", "archive.tar.gz", "notes.md.exe"])
def test_an_unsupported_type_is_415_and_nothing_is_written(
    app: Flask, tmp_path: Path, bad: str
) -> None:
    client = app.test_client()
    msg = error_of(
        post_files(client, [("fine.md", PEARS), (bad, b"data")]), 415, "unsupported_format"
    )
    assert bad in msg and ".md" in msg  # names the file and what is supported
    assert client.get(f"{API}/jobs").json == {"jobs": []}
    assert every_file(tmp_path) == set()  # not even the store was created


def test_the_extension_check_ignores_case(app: Flask) -> None:
    resp = post_files(app.test_client(), [("UPPER.MD", PEARS)])
    assert resp.status_code == 202
    assert wait_job(app, resp.json["job"]["id"])["files"][0]["stage"] == "done"


# --- 503: a model this request needs is not installed -------------------------------------------


def test_health_is_503_when_the_embedder_model_is_missing(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"HOME": str(tmp_path / "home")},
        store_dir=tmp_path / "store",
        models_dir=tmp_path / "models",
        embedder="e5",
    )
    (tmp_path / "models").mkdir()
    app = create_app(s)
    try:
        resp = app.test_client().get(f"{API}/health")
        assert resp.status_code == 503
        body = resp.json
        assert body["status"] == "degraded"
        assert body["models"]["embedder"] == {"name": "e5", "installed": False}
        assert body["store"] == {
            "path": str(tmp_path / "store"),
            "exists": False,
            "documents": 0,
            "chunks": 0,
        }
        assert isinstance(body["version"], str) and body["version"]
        assert not (tmp_path / "store").exists()  # a health check loads and creates nothing
    finally:
        app.extensions["rag"].close()


@pytest.fixture
def no_generator_app(tmp_path: Path) -> Iterator[Flask]:
    """Settings ask for the local generator but models_dir is empty; the embedder is the fake."""
    (tmp_path / "models").mkdir()
    s = Settings.from_env(
        {"HOME": str(tmp_path / "home")},
        store_dir=tmp_path / "store",
        models_dir=tmp_path / "models",
        embedder="hashing",
        generator="local",
    )
    a = create_app(engine=Engine(s, embedder=HashingEmbedder()))
    resp = post_files(a.test_client(), [("pears.md", PEARS)])
    assert wait_job(a, resp.json["job"]["id"])["state"] == "done"
    yield a
    a.extensions["rag"].close()


def test_ask_without_the_generator_model_is_503(no_generator_app: Flask) -> None:
    client = no_generator_app.test_client()
    msg = error_of(
        client.post(f"{API}/ask", json={"question": "pear trees"}), 503, "model_not_installed"
    )
    assert "rag models install" in msg
    events = sse_events(client.post(f"{API}/ask", json={"question": "pear trees", "stream": True}))
    assert [e for e, _ in events] == ["error"]
    assert events[0][1]["error"]["code"] == "model_not_installed"
    # retrieval needs no generator
    hits = client.post(f"{API}/retrieve", json={"question": "pear trees"})
    assert hits.status_code == 200 and hits.json["sources"][0]["title"] == "Pear orchards"
    health = client.get(f"{API}/health")
    assert health.status_code == 503
    assert health.json["models"]["generator"]["installed"] is False
    assert health.json["models"]["embedder"]["installed"] is True
    assert health.json["store"]["documents"] == 1


# --- uploaded names and the file system ------------------------------------------------------------


def test_uploaded_names_are_sanitised_and_stay_in_the_store(app: Flask, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    named = {
        "../../etc/x.md": "etc/x.md",
        str(outside): outside.relative_to("/").as_posix(),  # absolute: made relative
        ".hidden.md": "hidden.md",
        ".config/.env.md": "config/env.md",
        "资料/中文 名.md": "资料/中文 名.md",
        "a/./b/../c.md": "a/b/c.md",
        "cafe\u0301.md": "caf\u00e9.md",  # NFC
        "what?*<>|.md": "what_____.md",
    }
    client = app.test_client()
    before = every_file(tmp_path)
    resp = post_files(
        client, [(n, f"# Doc {i}\n\nText number {i}.\n".encode()) for i, n in enumerate(named)]
    )
    assert resp.status_code == 202, resp.json
    assert [f["name"] for f in resp.json["job"]["files"]] == list(named.values())
    job = wait_job(app, resp.json["job"]["id"])
    assert {f["stage"] for f in job["files"]} == {"done"}, job

    store = (tmp_path / "store").resolve()
    new = every_file(tmp_path) - before
    assert new and all(p.resolve().is_relative_to(store) for p in new), sorted(
        str(p) for p in new if not p.resolve().is_relative_to(store)
    )
    assert not outside.exists() and not (tmp_path / "etc").exists()
    for rel in named.values():
        assert (store / "uploads" / rel).is_file(), rel
    rows = client.get(f"{API}/documents").json["documents"]
    assert "中文 名.md" in {r["name"] for r in rows}
    assert all(Path(r["source"]).resolve().is_relative_to(store / "uploads") for r in rows)


def test_backslashes_in_a_name_never_leave_the_uploads_folder(app: Flask, tmp_path: Path) -> None:
    # A client sends raw backslashes, which the multipart parser reads as quoted-string escapes;
    # an escaped backslash reaches the app as one, where it separates folders.
    boundary = "b0undary"
    parts = [("..\\..\\win.md", "raw"), ("sub\\\\dir\\\\z.md", "escaped")]
    body = b""
    for name, word in parts:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: text/markdown\r\n\r\n'
            f"# {word}\n\nSome {word} text.\n\r\n"
        ).encode()
    body += f"--{boundary}--\r\n".encode()
    client = app.test_client()
    resp = client.post(
        f"{API}/documents", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert resp.status_code == 202, resp.json
    names = [f["name"] for f in resp.json["job"]["files"]]
    assert names[1] == "sub/dir/z.md"
    assert "\\" not in names[0] and ".." not in names[0]
    wait_job(app, resp.json["job"]["id"])
    uploads = (tmp_path / "store" / "uploads").resolve()
    assert all(p.resolve().is_relative_to(uploads.parent) for p in every_file(tmp_path))
    assert (uploads / "sub" / "dir" / "z.md").is_file()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a\\b\\c.md", "a/b/c.md"),
        ("..\\..\\x.md", "x.md"),
        ("C:\\Users\\me\\w.md", "C_/Users/me/w.md"),
        ("/etc/passwd.md", "etc/passwd.md"),
        ("//server/share/s.md", "server/share/s.md"),
        ("...md", "md"),
        ("a/\x00b.md", "a/_b.md"),
    ],
)
def test_safe_relative_path(name: str, expected: str) -> None:
    assert safe_relative_path(name).as_posix() == expected


def test_a_long_chinese_name_is_shortened_not_a_500(app: Flask) -> None:
    resp = post_files(app.test_client(), [("中" * 100 + ".md", PEARS)])
    assert resp.status_code == 202, resp.json
    name = resp.json["job"]["files"][0]["name"]
    assert name.endswith(".md") and len(name.encode()) <= 255


def test_a_long_name_keeps_its_extension(app: Flask) -> None:
    resp = post_files(app.test_client(), [("a" * 250 + ".md", PEARS)])
    assert resp.status_code == 202, resp.json
    assert resp.json["job"]["files"][0]["name"].endswith(".md")


def test_an_upload_named_like_a_server_file_stores_the_sent_bytes(
    app: Flask, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\nThe vault code is zebra-armadillo.\n", "utf-8")
    client = app.test_client()
    resp = post_files(client, [(str(secret), b"# Decoy\n\nOnly harmless words.\n")])
    job = wait_job(app, resp.json["job"]["id"])
    assert job["files"][0]["stage"] == "done"
    stored = tmp_path / "store" / "uploads" / secret.relative_to("/")
    assert stored.read_bytes() == b"# Decoy\n\nOnly harmless words.\n"
    assert "zebra" in secret.read_text("utf-8")  # untouched
    hits = client.post(f"{API}/retrieve", json={"question": "vault code zebra-armadillo"}).json
    assert all("zebra" not in s["text"] for s in hits["sources"])


@pytest.mark.parametrize(
    "ref",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "lora_qlora_zh.md",
        "demo/lora_qlora_zh.md",
        "*",
        "%2A.md",
    ],
)
def test_no_route_reads_a_document_by_path_name_or_glob(demo_client: FlaskClient, ref: str) -> None:
    resp = demo_client.get(f"{API}/documents/{ref}")
    assert resp.status_code == 404 and resp.is_json, resp.get_data(as_text=True)[:200]
    assert demo_client.post(f"{API}/documents/{ref}/reingest").status_code == 404
    assert demo_client.get(f"{API}/jobs").json["jobs"][0]["files"][0]["name"].startswith("demo/")


def test_an_id_prefix_is_not_an_id(demo_client: FlaskClient) -> None:
    doc = demo_doc(demo_client, "lora_qlora_zh.md")
    error_of(demo_client.get(f"{API}/documents/{doc['id'][:8]}"), 404, "document_not_found")


@pytest.mark.parametrize("ref", ["pears.md", "*", "*.md", "uploads/pears.md"])
def test_delete_takes_an_id_never_a_name_or_glob(pears_app: Flask, ref: str) -> None:
    client = pears_app.test_client()
    resp = client.delete(f"{API}/documents/{ref}")
    assert resp.status_code == 404 and resp.is_json  # a name with "/" matches no route at all
    assert client.get(f"{API}/documents").json["total"] == 1


@pytest.mark.parametrize("path", ["/static/..%2Fapi.py", "/static/../app.py", "/api.py"])
def test_static_files_do_not_reach_the_source(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404
    assert b"Blueprint" not in resp.data and b"create_app" not in resp.data


def test_a_path_glob_filter_only_narrows_the_stored_documents(demo_client: FlaskClient) -> None:
    body = {"question": "root password", "filters": {"path_glob": "/etc/*"}}
    resp = demo_client.post(f"{API}/retrieve", json=body)
    assert resp.status_code == 200 and resp.json["sources"] == []


# --- GET /documents: rows, pagination, filters, one document -------------------------------------


def test_the_demo_is_listed_with_every_field(demo_client: FlaskClient) -> None:
    body = demo_client.get(f"{API}/documents").json
    assert (body["total"], body["page"], body["per_page"]) == (10, 1, 20)
    rows = body["documents"]
    assert sorted(r["name"] for r in rows) == [p.name for p in DEMO_FILES]
    for r in rows:
        assert set(r) == ROW_KEYS, r
        assert r["status"] == "ready" and r["job"] is None and r["error"] is None
        assert r["format"] == r["name"].rsplit(".", 1)[1] and r["chunks"] > 0
        assert r["entities"] > 0 and r["metadata"] == {} and r["size"] > 0
    by_name = {r["name"]: r for r in rows}
    assert by_name["gpu_memory_sizing.pdf"]["pages"] == 4
    assert by_name["inference_deployment.pptx"]["pages"] == 6
    assert by_name["lora_qlora_zh.md"]["pages"] is None


def test_pages_of_the_listing_cover_every_document_once(demo_client: FlaskClient) -> None:
    seen: list[str] = []
    sizes = []
    for page in range(1, 6):
        body = demo_client.get(f"{API}/documents", query_string={"page": page, "per_page": 3}).json
        assert body["total"] == 10 and body["page"] == page and body["per_page"] == 3
        sizes.append(len(body["documents"]))
        seen += [r["id"] for r in body["documents"]]
    assert sizes == [3, 3, 3, 1, 0]
    assert len(seen) == len(set(seen)) == 10


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ("QLORA", {"lora_qlora_zh.md"}),
        ("for inference", {"inference_deployment.pptx", "quantization_guide.docx"}),  # titles
        ("量化微调", {"lora_qlora_zh.md"}),
        ("訓練流程", {"training_pipeline_zh_hant.md"}),
        (
            "_zh",
            {
                "lora_qlora_zh.md",
                "model_compression_zh.html",
                "rag_graphrag_kag_zh.txt",
                "training_pipeline_zh_hant.md",
            },
        ),
        ("no-such-text", set()),
    ],
)
def test_q_filters_by_name_source_or_title(
    demo_client: FlaskClient, q: str, names: set[str]
) -> None:
    body = demo_client.get(f"{API}/documents", query_string={"q": q}).json
    assert {r["name"] for r in body["documents"]} == names
    assert body["total"] == len(names)


def test_status_filter_and_q_combine_with_pages(demo_client: FlaskClient) -> None:
    ready = demo_client.get(f"{API}/documents?status=ready&q=_zh&per_page=3&page=2").json
    assert ready["total"] == 4 and len(ready["documents"]) == 1
    for status in ("failed", "queued", "processing", "graph_pending"):
        assert demo_client.get(f"{API}/documents?status={status}").json["total"] == 0


def test_one_document_with_its_chunks_and_entities(demo_client: FlaskClient) -> None:
    row = demo_doc(demo_client, "gpu_memory_sizing.pdf")
    body = demo_client.get(f"{API}/documents/{row['id']}").json
    assert body["document"] == row
    chunks = body["chunks"]
    assert len(chunks) == row["chunks"]
    assert [c["ordinal"] for c in chunks] == sorted(c["ordinal"] for c in chunks)
    assert {c["page"] for c in chunks} <= set(range(1, 5)) and max(c["page"] for c in chunks) == 4
    for c in chunks:
        assert set(c) == {"id", "ordinal", "text", "page", "section", "kind", "location"}
        assert c["text"].strip() and f"page {c['page']}" in c["location"]
    ents = body["entities"]
    assert len(ents) == row["entities"]
    assert all(set(e) == {"id", "name", "type"} for e in ents)
    assert "GPU" in {e["name"] for e in ents}


# --- retrieval and answers -------------------------------------------------------------------------


def test_retrieve_returns_ranked_sources_without_generating(demo_client: FlaskClient) -> None:
    body = demo_client.post(f"{API}/retrieve", json={"question": "QLoRA 是什么？"}).json
    assert (body["mode"], body["method"], body["k"], body["strategy"]) == ("rag", "hybrid", 5, None)
    sources = body["sources"]
    assert [s["n"] for s in sources] == [1, 2, 3, 4, 5]
    assert all(set(s) == SOURCE_KEYS for s in sources)
    assert sources[0]["document"].endswith("lora_qlora_zh.md") and "QLoRA" in sources[0]["text"]
    scores = [s["score"] for s in sources]
    assert scores == sorted(scores, reverse=True)
    assert body["timings"]["retrieve"] >= 0


def test_retrieve_options_k_and_filters(demo_client: FlaskClient) -> None:
    pdf = demo_doc(demo_client, "gpu_memory_sizing.pdf")
    q = "How much memory does a 7B model need?"
    two = demo_client.post(f"{API}/retrieve", json={"question": q, "k": 2, "method": "bm25"}).json
    assert len(two["sources"]) == 2 and two["method"] == "bm25"
    only = demo_client.post(
        f"{API}/retrieve", json={"question": q, "filters": {"doc_ids": [pdf["id"]]}}
    ).json
    assert only["sources"] and {s["doc_id"] for s in only["sources"]} == {pdf["id"]}
    globbed = demo_client.post(
        f"{API}/retrieve", json={"question": q, "filters": {"path_glob": "*.pptx"}}
    ).json
    assert globbed["sources"]
    assert all(s["document"].endswith("inference_deployment.pptx") for s in globbed["sources"])


def test_graph_mode_traces_the_matched_entities(demo_client: FlaskClient) -> None:
    body = demo_client.post(f"{API}/retrieve", json={"question": "QLoRA 是什么？", "mode": "graph"})
    trace = body.json["trace"]
    assert trace[0]["step"] == "match_entities"
    assert "QLoRA" in {e["name"] for e in trace[0]["entities"]}
    assert body.json["strategy"] == DEFAULT_GRAPH_STRATEGY


def test_ask_answers_with_citations(demo_client: FlaskClient) -> None:
    body = demo_client.post(f"{API}/ask", json={"question": "QLoRA 是什么？"}).json
    assert body["answer"] == ANSWER and body["cited"] == [1] and body["language"] == "zh"
    assert body["sources"][0]["document"].endswith("lora_qlora_zh.md")


def test_the_answer_stream_sends_sources_then_tokens_then_done(demo_client: FlaskClient) -> None:
    resp = demo_client.post(f"{API}/ask", json={"question": "QLoRA 是什么？", "stream": True})
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    events = sse_events(resp)
    kinds = [e for e, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"} and len(kinds) > 3
    tokens = "".join(d["text"] for e, d in events if e == "token")
    done = events[-1][1]
    assert tokens == done["answer"] == ANSWER
    sent = [s["chunk_id"] for s in events[0][1]["sources"]]
    assert sent == [s["chunk_id"] for s in done["sources"]] and sent
    assert events[0][1]["trace"] == done["trace"]


class FailingGenerator(ScriptedGenerator):
    """Streams two tokens, then the model fails the way llama.cpp or an endpoint does."""

    def stream(self, messages: list[Message], **kwargs: Any) -> Iterator[str]:
        self.calls.append(messages)
        yield "Pear "
        yield "trees "
        raise GenerationError("the model stopped answering")


def test_a_generation_failure_mid_stream_is_an_error_event(tmp_path: Path) -> None:
    app = one_doc_app(tmp_path, generator=FailingGenerator())
    try:
        client = app.test_client()
        events = sse_events(client.post(f"{API}/ask", json={"question": "pear", "stream": True}))
        assert [e for e, _ in events] == ["sources", "token", "token", "error"]
        assert events[-1][1] == {
            "error": {"code": "generation_failed", "message": "the model stopped answering"}
        }
        error_of(client.post(f"{API}/ask", json={"question": "pear"}), 503, "generation_failed")
    finally:
        app.extensions["rag"].close()


# --- the knowledge graph ----------------------------------------------------------------------------

SUMMARY_KEYS = {"id", "name", "type", "description", "aliases", "degree", "chunks"}


def find_entity(client: FlaskClient, q: str) -> dict[str, Any]:
    found = client.get(f"{API}/graph/entities", query_string={"q": q}).json["entities"]
    assert found, q
    return dict(found[0])


def test_entities_without_q_are_the_most_connected(demo_client: FlaskClient) -> None:
    ents = demo_client.get(f"{API}/graph/entities").json["entities"]
    assert len(ents) == 20 and all(set(e) == SUMMARY_KEYS for e in ents)
    degrees = [e["degree"] for e in ents]
    assert degrees == sorted(degrees, reverse=True) and degrees[0] > degrees[-1]
    assert len(demo_client.get(f"{API}/graph/entities?limit=5").json["entities"]) == 5


@pytest.mark.parametrize(
    ("q", "name"),
    [
        ("QLoRA", "QLoRA"),
        ("qlora", "QLoRA"),
        ("Quantized LoRA", "QLoRA"),
        ("注意力", "注意力"),
        ("知识库", "知识库"),
        ("GQA", "注意力"),
        ("nf4", "NF4"),
    ],
)
def test_entity_search_by_name_or_alias(demo_client: FlaskClient, q: str, name: str) -> None:
    assert find_entity(demo_client, q)["name"] == name


def test_entity_search_with_no_match_is_empty(demo_client: FlaskClient) -> None:
    assert demo_client.get(f"{API}/graph/entities?q=zzqqxx-nothing").json == {"entities": []}


def test_entity_detail_by_id_name_or_chinese_name(demo_client: FlaskClient) -> None:
    for q in ("QLoRA", "注意力"):
        summary = find_entity(demo_client, q)
        by_id = demo_client.get(f"{API}/graph/entities/{summary['id']}").json
        assert by_id["entity"] == summary
        assert demo_client.get(f"{API}/graph/entities/{q}").json == by_id
        relations = by_id["relations"]
        assert len(relations) == summary["degree"]
        for r in relations:
            assert summary["id"] in (r["source"], r["target"])
            other = r["target"] if r["source"] == summary["id"] else r["source"]
            assert r["other"]["id"] == other != summary["id"]
        assert len(by_id["chunks"]) == min(summary["chunks"], 20)
        assert all(c["text"] and c["document"] for c in by_id["chunks"])


def test_relation_detail(demo_client: FlaskClient) -> None:
    qlora = find_entity(demo_client, "QLoRA")
    rel = demo_client.get(f"{API}/graph/entities/{qlora['id']}").json["relations"][0]
    body = demo_client.get(f"{API}/graph/relations/{rel['id']}").json
    assert body["relation"] == {k: v for k, v in rel.items() if k != "other"}
    assert (body["source"]["id"], body["target"]["id"]) == (rel["source"], rel["target"])
    assert body["chunks"] and all(c["text"] for c in body["chunks"])


def test_subgraph_around_an_entity(demo_client: FlaskClient) -> None:
    qlora = find_entity(demo_client, "QLoRA")
    detail = demo_client.get(f"{API}/graph/entities/{qlora['id']}").json
    neighbours = {r["other"]["id"] for r in detail["relations"]}
    sub = demo_client.get(f"{API}/graph/subgraph", query_string={"entities": qlora["id"]}).json
    nodes = {n["id"]: n for n in sub["nodes"]}
    assert nodes[qlora["id"]]["seed"] is True
    assert set(nodes) == neighbours | {qlora["id"]}
    assert all(n["seed"] is False for i, n in nodes.items() if i != qlora["id"])
    assert sub["edges"] and all(e["source"] in nodes and e["target"] in nodes for e in sub["edges"])
    alone = demo_client.get(f"{API}/graph/subgraph?entities={qlora['id']}&depth=0").json
    assert [n["id"] for n in alone["nodes"]] == [qlora["id"]] and alone["edges"] == []
    small = demo_client.get(f"{API}/graph/subgraph?entities=QLoRA&depth=2&limit=4").json
    assert len(small["nodes"]) == 4 and small["nodes"][0]["id"] == qlora["id"]


def test_subgraph_of_chunks_seeds_the_entities_they_mention(demo_client: FlaskClient) -> None:
    qlora = find_entity(demo_client, "QLoRA")
    chunk = demo_client.get(f"{API}/graph/entities/{qlora['id']}").json["chunks"][0]["chunk_id"]
    sub = demo_client.get(f"{API}/graph/subgraph?chunks={chunk}&depth=0").json
    seeds = {n["id"] for n in sub["nodes"] if n["seed"]}
    assert qlora["id"] in seeds and len(seeds) == len(sub["nodes"])


def test_subgraph_skips_unknown_seeds_and_defaults_to_the_hubs(demo_client: FlaskClient) -> None:
    qlora = find_entity(demo_client, "QLoRA")
    mixed = demo_client.get(f"{API}/graph/subgraph?entities=NoSuch,{qlora['id']}&depth=0").json
    assert [n["id"] for n in mixed["nodes"]] == [qlora["id"]]
    hubs = demo_client.get(f"{API}/graph/subgraph?depth=0").json
    top = [e["id"] for e in demo_client.get(f"{API}/graph/entities?limit=10").json["entities"]]
    assert [n["id"] for n in hubs["nodes"]] == top


def test_communities_and_their_levels(demo_client: FlaskClient) -> None:
    comms = demo_client.get(f"{API}/graph/communities").json["communities"]
    assert comms
    ids = {c["id"] for c in comms}
    for c in comms:
        assert set(c) == {"id", "level", "title", "summary", "size", "entity_ids", "parent"}
        assert c["size"] == len(c["entity_ids"]) > 0
        assert c["parent"] is None or c["parent"] in ids
    levels = {c["level"] for c in comms}
    assert len(levels) > 1
    zero = demo_client.get(f"{API}/graph/communities?level=0").json["communities"]
    assert zero and {c["level"] for c in zero} == {0}
    assert len(zero) == sum(c["level"] == 0 for c in comms)
    assert demo_client.get(f"{API}/graph/communities?level=99").json == {"communities": []}


# --- health and jobs on the demo ---------------------------------------------------------------------


def test_health_counts_the_store(demo_client: FlaskClient) -> None:
    resp = demo_client.get(f"{API}/health")
    assert resp.status_code == 200 and resp.json["status"] == "ok"
    store = resp.json["store"]
    assert store["exists"] is True and store["documents"] == 10
    total_chunks = sum(r["chunks"] for r in demo_client.get(f"{API}/documents").json["documents"])
    assert store["chunks"] == total_chunks
    assert resp.json["models"]["embedder"]["installed"] is True


def test_the_demo_upload_job_is_listed_done(demo_client: FlaskClient) -> None:
    jobs = demo_client.get(f"{API}/jobs").json["jobs"]
    assert len(jobs) == 1 and jobs[0]["state"] == "done"
    job = demo_client.get(f"{API}/jobs/{jobs[0]['id']}").json
    assert job == jobs[0]
    assert sorted(f["name"] for f in job["files"]) == [f"demo/{p.name}" for p in DEMO_FILES]
    assert all(f["stage"] == "done" and f["progress"] == 1.0 and f["doc_id"] for f in job["files"])
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    error_of(demo_client.post(f"{API}/jobs/{job['id']}/retry"), 409, "nothing_to_retry")
    assert demo_client.post(f"{API}/jobs/{job['id']}/cancel").json["state"] == "done"


# --- writes from other sites, and the login redirect ---------------------------------------------


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # curl, a script: no browser
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),  # typed into the address bar
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),  # another port of the same host
        ({"Origin": "http://localhost"}, True),
        ({"Origin": "http://evil.example"}, False),
        ({"Origin": "http://localhost:9999"}, False),
    ],
)
def test_a_write_from_another_sites_page_is_refused(
    client: FlaskClient, headers: dict[str, str], allowed: bool
) -> None:
    resp = client.post(f"{API}/jobs/nope/cancel", headers=headers)
    if allowed:
        error_of(resp, 404, "job_not_found")  # it got through to the view
    else:
        error_of(resp, 403, "cross_site")


def test_reads_from_other_sites_are_not_refused(client: FlaskClient) -> None:
    resp = client.get(f"{API}/jobs", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 200  # a read changes nothing, and CORS keeps its body from the page


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/documents?q=x", "/documents?q=x"),
        ("//evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("", "/"),
    ],
)
def test_login_goes_back_only_to_a_path_of_this_server(target: str, expected: str) -> None:
    from web.auth import safe_next

    assert safe_next(target) == expected


def test_a_server_on_loopback_refuses_other_host_names(tmp_path: Path) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1."""
    from web.serve import LOOPBACK_NAMES

    app = make_app(tmp_path)
    app.config["TRUSTED_HOSTS"] = LOOPBACK_NAMES  # what serve() sets for a loopback --host
    try:
        c = app.test_client()
        assert c.get(f"{API}/jobs", headers={"Host": "127.0.0.1:8000"}).status_code == 200
        assert c.get(f"{API}/jobs", headers={"Host": "localhost:8000"}).status_code == 200
        assert c.get(f"{API}/jobs", headers={"Host": "evil.example:8000"}).status_code == 400
    finally:
        app.extensions["rag"].close()


def test_a_name_inside_another_file_of_the_upload_is_a_400(client: FlaskClient) -> None:
    files = [(io.BytesIO(b"a"), "x.txt"), (io.BytesIO(b"b"), "x.txt/b.txt")]
    resp = client.post(f"{API}/documents", data={"file": files}, content_type="multipart/form-data")
    error_of(resp, 400, "bad_request")


def test_only_the_login_token_opens_the_api_by_cookie(keyed: Flask) -> None:
    from web.auth import COOKIE, session_token

    for value, opens in ((session_token(KEY), True), (KEY, False), (session_token("other"), False)):
        client = keyed.test_client()
        client.set_cookie(COOKIE, value)
        assert (client.get(f"{API}/jobs").status_code == 200) == opens, value
