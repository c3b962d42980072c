"""Hostile HTTP through the real app: upload names that try to leave the uploads folder or
break what shows them, every API route asked without the key (read from the app's URL map,
not a list kept by hand), and the request shapes the schemathesis run (test_api_fuzz.py)
found the routes reading differently from the OpenAPI document."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.web.conftest import every_file, make_app, post_files, wait_job
from web.auth import OPEN_PATHS

API = "/api/v1"
TEXT = b"# Orchard notes\n\nPear trees flower in early spring; quinces follow in May.\n"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    a = make_app(tmp_path)
    yield a
    a.extensions["rag"].close()


def raw_upload(client: FlaskClient, disposition: str, content: bytes = TEXT) -> Any:
    """One part with exactly this Content-Disposition tail: names a test client would
    re-encode (backslashes, quotes, RFC 5987 `filename*=`) reach the server as sent."""
    b = "hostile-boundary-7f3a"
    body = (f'--{b}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content  # fmt: skip
    body += f"\r\n--{b}--\r\n".encode()
    return client.post(f"{API}/documents", data=body,
                       content_type=f"multipart/form-data; boundary={b}")  # fmt: skip


# --- upload names ------------------------------------------------------------------------------

# What a shown name must never hold: control characters (C0, DEL, C1), line and paragraph
# separators, the marks that reorder text on screen, a backslash, a "." or ".." segment.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def assert_shown_safely(name: str) -> None:
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name), repr(name)
    assert not set(name) & set(BIDI + '\\<>:"|?*'), repr(name)
    parts = name.split("/")
    assert all(p and p not in (".", "..") and not p.startswith(".") for p in parts), repr(name)
    assert all(len(p.encode()) <= 200 for p in parts), repr(name)
    assert not name.startswith("/")


# (sent name, what the job must call it; None: only that it is shown safely)
ACCEPTED = [
    ("../../etc/passwd.txt", "etc/passwd.txt"),
    ("../../../../../../../../tmp/x.md", "tmp/x.md"),
    ("/etc/cron.d/evil.txt", "etc/cron.d/evil.txt"),
    ("//server/share/s.txt", "server/share/s.txt"),
    ("a/./b/../c.txt", "a/b/c.txt"),
    ("nul\x00byte.txt", "nul_byte.txt"),
    ("bell\x07esc\x1b[31mred.txt", "bell_esc_[31mred.txt"),
    ("c1\x85\x9bcontrol.txt", "c1__control.txt"),
    ("line\u2028break.md", "line_break.md"),
    ("\u202egnp.txt", "_gnp.txt"),  # right-to-left override: would read "txt.png"
    ("x" * 300 + ".txt", "x" * 196 + ".txt"),
    ("长" * 120 + ".md", "长" * 65 + ".md"),  # 3 bytes a character: 195 + 3 ≤ 200
    ("中文文档.md", "中文文档.md"),
    ("资料/子目录/量化笔记.txt", "资料/子目录/量化笔记.txt"),
    ("e\u0301cole.txt", "\u00e9cole.txt"),  # NFC: one é, as a Mac's NFD name becomes
    ("CON.txt", "_CON.txt"),
    ("nul.md", "_nul.md"),
    ("sub/COM1.txt", "sub/_COM1.txt"),
    ("Lpt9.notes.md", "_Lpt9.notes.md"),
    ("console.md", "console.md"),  # only the device names themselves
    ("trailing dot.txt.", "trailing dot.txt"),
    ("  spaced  .md ", "spaced  .md"),
    (".hidden/.env.txt", "hidden/env.txt"),
    (".incoming/staged.txt", "incoming/staged.txt"),  # not the staging folder
    ("<script>alert(1)</script>.md", "_script_alert(1)_/script_.md"),
    ("%2e%2e%2fencoded.txt", "%2e%2e%2fencoded.txt"),  # a name, never decoded into a path
]


@pytest.mark.parametrize(("sent", "expected"), ACCEPTED, ids=[repr(s)[:40] for s, _ in ACCEPTED])
def test_an_odd_name_is_sanitised_and_lands_inside_uploads(
    app: Flask, tmp_path: Path, sent: str, expected: str
) -> None:
    client = app.test_client()
    resp = post_files(client, [(sent, TEXT)])
    assert resp.status_code == 202, resp.json
    job = wait_job(app, resp.json["job"]["id"])
    [f] = job["files"]
    assert f["stage"] == "done", f
    assert f["name"] == expected
    assert_shown_safely(f["name"])
    uploads = (tmp_path / "store" / "uploads").resolve()
    stored = uploads / f["name"]
    assert stored.is_file() and stored.read_bytes() == TEXT
    assert stored.resolve().is_relative_to(uploads)
    inside = ((tmp_path / "store").resolve(), (tmp_path / "home").resolve())
    assert all(any(p.resolve().is_relative_to(i) for i in inside) for p in every_file(tmp_path))
    [row] = client.get(f"{API}/documents").json["documents"]
    assert row["name"] == expected.rsplit("/", 1)[-1]
    assert Path(row["source"]).resolve() == stored.resolve()
    detail = client.get(f"{API}/documents/{row['id']}").json
    assert detail["document"]["name"] == row["name"]


REFUSED = [
    ("../../etc/passwd", 415, "unsupported_format"),  # no extension: no loader
    ("...", 400, "bad_request"),
    ("..", 400, "bad_request"),
    (".", 400, "bad_request"),
    ("/", 400, "bad_request"),
    ("....txt", 415, "unsupported_format"),  # only dots before the extension: "txt"
    ("\x00\x01\x02", 415, "unsupported_format"),  # "___": no extension
    ("a.txt:stream", 415, "unsupported_format"),  # an NTFS stream name
    ("evil.exe", 415, "unsupported_format"),
    ("a/" * 600 + "deep.txt", 400, "bad_request"),
    (("d" * 200 + "/") * 30 + "deep.txt", 400, "bad_request"),
    ("." * 100_000, 400, "bad_request"),
]


@pytest.mark.parametrize(
    ("sent", "status", "code"), REFUSED, ids=[repr(s)[:30] for s, *_ in REFUSED]
)
def test_an_unusable_name_is_refused_in_one_line_and_nothing_is_written(
    app: Flask, tmp_path: Path, sent: str, status: int, code: str
) -> None:
    before = every_file(tmp_path)
    resp = post_files(app.test_client(), [(sent, TEXT), ("fine.txt", TEXT)])
    assert resp.status_code == status, resp.json
    error = resp.json["error"]
    assert error["code"] == code
    assert "\n" not in error["message"] and len(error["message"]) < 400, error["message"]
    assert not any(unicodedata.category(c) == "Cc" for c in error["message"])
    written = {p for p in every_file(tmp_path) - before if p.is_file()}
    assert written == set(), written  # not even the good file of the same upload
    assert app.test_client().get(f"{API}/jobs").json["jobs"] == []


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('filename="..\\..\\..\\win.txt"', "win.txt"),
        ('filename="C:\\Users\\me\\doc.md"', None),
        ('filename="a%22b%0Ac.txt"', "a_b%0Ac.txt"),  # a browser's " and newline: %22 is read
        ("filename*=UTF-8''" + quote("中文 笔记.txt"), "中文 笔记.txt"),
        ("filename*=UTF-8''" + quote("../../上一级.md", safe=""), "上一级.md"),
        ('filename="直接发送的中文.md"', "直接发送的中文.md"),
    ],
)
def test_names_as_clients_encode_them(
    app: Flask, tmp_path: Path, disposition: str, expected: str | None
) -> None:
    resp = raw_upload(app.test_client(), disposition)
    assert resp.status_code == 202, resp.json
    [f] = wait_job(app, resp.json["job"]["id"])["files"]
    assert f["stage"] == "done", f
    assert_shown_safely(f["name"])
    if expected is not None:
        assert f["name"] == expected
    uploads = (tmp_path / "store" / "uploads").resolve()
    assert (uploads / f["name"]).resolve().is_relative_to(uploads)


def test_a_chinese_name_is_found_by_its_text_and_shown_as_sent(app: Flask) -> None:
    client = app.test_client()
    name = "量化/大模型 微调笔记（第2版）.md"
    body = "# 微调笔记\n\nQLoRA 把基座模型量化为 4-bit，再训练 LoRA 适配器。\n".encode()
    resp = post_files(client, [(name, body)])
    assert wait_job(app, resp.json["job"]["id"])["state"] == "done"
    [row] = client.get(f"{API}/documents", query_string={"q": "微调笔记"}).json["documents"]
    assert row["name"] == "大模型 微调笔记（第2版）.md"
    hits = client.post(f"{API}/retrieve", json={"question": "QLoRA 量化 4-bit"}).json["sources"]
    assert hits and hits[0]["document"].endswith("大模型 微调笔记（第2版）.md")


def test_two_names_that_sanitise_alike_are_one_name_twice(app: Flask, tmp_path: Path) -> None:
    before = every_file(tmp_path)
    resp = post_files(app.test_client(), [("../a.txt", TEXT), ("a.txt", TEXT)])
    assert resp.status_code == 400 and "twice" in resp.json["error"]["message"]
    assert {p for p in every_file(tmp_path) - before if p.is_file()} == set()


# --- the API key: every route of the URL map ---------------------------------------------------

KEY = "hostile-k3y"
API_PREFIXES = ("/api/", "/v1/")
# Deliberate exceptions, each documented: the health check answers monitors without a key
# (web/auth.OPEN_PATHS; its OpenAPI operation has `security: []`); /api/docs is a page (Swagger
# UI), which sends a browser to log in like every other page instead of answering 401.
OPEN_API = {f"{API}/health"}
PAGES_UNDER_API = {"/api/docs"}


def api_rules(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if r.rule.startswith(API_PREFIXES)]


def url_of(rule: Rule) -> str:
    """The rule's path with every variable filled in (a plausible id, not a real one)."""
    values = {name: "0123456789abcdef" for name in rule.arguments}
    return str(rule.build(values, append_unknown=False)[1])  # type: ignore[index]


def cases(app: Flask) -> list[tuple[str, str]]:
    return [(method, url_of(rule)) for rule in api_rules(app)
            for method in sorted(rule.methods or ())]  # fmt: skip


WRONG = [
    {},
    {"Authorization": "Bearer wrong-key"},
    {"Authorization": f"Bearer {KEY}x"},
    {"Authorization": f"Bearer {KEY[:-1]}"},
    {"Authorization": KEY},
    {"Authorization": f"Basic {KEY}"},
    {"Authorization": "Bearer "},
    {"Cookie": f"rag_session={KEY}"},  # the key is not the cookie's token
    {"X-Api-Key": KEY},
]


def assert_unauthorized(resp: Any, path: str, method: str) -> None:
    assert resp.status_code == 401, (method, path, resp.status_code, resp.get_data()[:200])
    assert resp.headers.get("WWW-Authenticate") == "Bearer"
    if method == "HEAD":
        return
    assert resp.is_json, (method, path)
    error = resp.json["error"]
    if path.startswith("/v1/"):  # OpenAI's shape, which its clients read
        assert set(error) == {"message", "type", "code", "param"}
        assert error["type"] == "authentication_error" and error["code"] == "unauthorized"
    else:
        assert set(error) == {"code", "message"} and error["code"] == "unauthorized"
    assert "Bearer" in error["message"] and KEY not in json.dumps(resp.json)


def test_every_api_route_and_method_is_401_without_the_key(tmp_path: Path) -> None:
    app = make_app(tmp_path, api_key=KEY)
    client = app.test_client()
    found = cases(app)
    assert len(found) >= 25, found  # the URL map, not an empty list: GET, HEAD, OPTIONS, …
    assert {"/api/v1/documents", "/v1/chat/completions", "/api/v1/openapi.json"} <= {
        u for _, u in found
    }
    before = every_file(tmp_path)
    for method, path in found:
        if path in OPEN_API:
            continue
        for headers in WRONG:
            resp = client.open(path, method=method, headers=headers, json={"question": "x"})
            if path in PAGES_UNDER_API:
                assert resp.status_code == 302, (method, path)
                assert resp.headers["Location"].startswith("/login?next=")
                continue
            assert_unauthorized(resp, path, method)
            # in the query string or the body, the key is not a credential either
            resp = client.open(path + "?key=" + KEY + "&api_key=" + KEY, method=method,
                               json={"question": "x", "api_key": KEY})  # fmt: skip
            if path not in PAGES_UNDER_API:
                assert_unauthorized(resp, path, method)
    assert every_file(tmp_path) == before  # refused before anything ran: not even a store
    app.extensions["rag"].close()


def test_the_open_routes_are_exactly_the_documented_ones(tmp_path: Path) -> None:
    app = make_app(tmp_path, api_key=KEY)
    client = app.test_client()
    open_now = set()
    for method, path in cases(app):
        resp = client.open(path, method=method)
        if resp.status_code != 401:
            open_now.add(path)
    assert open_now == OPEN_API | PAGES_UNDER_API
    assert set(OPEN_PATHS) >= OPEN_API
    doc = client.get(f"{API}/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json
    ops = [(path, op) for path, item in doc["paths"].items() for op in item.values()]
    assert {path for path, op in ops if op.get("security") == []} == OPEN_API
    assert all("401" in op["responses"] for path, op in ops if path not in OPEN_API)
    health = client.get(f"{API}/health").json
    assert KEY not in json.dumps(health)
    app.extensions["rag"].close()


def test_with_the_key_every_route_is_past_the_check(tmp_path: Path) -> None:
    app = make_app(tmp_path, api_key=KEY)
    client = app.test_client()
    for method, path in cases(app):
        resp = client.open(path, method=method, headers={"Authorization": f"Bearer {KEY}"})
        assert resp.status_code != 401, (method, path)
    app.extensions["rag"].close()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1//documents",
        "/api/v1/./documents",
        "/api/v1/health/",
        "/api/v1/health/../jobs",
        "/API/v1/documents",
        "/v1//models",
        "/v1/models/../models",
        "/static/..%2Fapi%2Fv1%2Fdocuments",
        "/api/v1/health%00/../documents",
    ],
)
def test_odd_spellings_of_a_protected_path_are_not_served(tmp_path: Path, path: str) -> None:
    app = make_app(tmp_path, api_key=KEY)
    resp = app.test_client().get(path)
    login = resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert resp.status_code in (401, 404) or login, (path, resp.status_code)
    assert b'"documents"' not in resp.data and b'"jobs"' not in resp.data
    assert b'"data"' not in resp.data
    app.extensions["rag"].close()


# --- what the schemathesis run found the routes reading differently ----------------------------


def test_an_integral_number_is_a_whole_number(demo_client: FlaskClient) -> None:
    resp = demo_client.post(f"{API}/retrieve", json={"question": "QLoRA", "k": 3.0})
    assert resp.status_code == 200 and resp.json["k"] == 3
    assert (
        demo_client.post(f"{API}/retrieve", json={"question": "QLoRA", "k": 2.5}).status_code == 400
    )
    assert demo_client.get(f"{API}/documents?per_page=5.0").json["per_page"] == 5
    assert demo_client.get(f"{API}/documents?per_page=5.5").status_code == 400
    assert demo_client.get(f"{API}/documents?per_page=inf").status_code == 400


def test_a_wrong_type_is_not_read_as_absent(demo_client: FlaskClient) -> None:
    for filters in ({"doc_ids": False}, {"doc_ids": 0}, {"doc_ids": ""}):
        resp = demo_client.post(f"{API}/retrieve", json={"question": "QLoRA", "filters": filters})
        assert resp.status_code == 400, filters
    for name in ("mode", "strategy", "method"):
        resp = demo_client.post(f"{API}/retrieve", json={"question": "QLoRA", name: ""})
        assert resp.status_code == 422 and name in resp.json["error"]["message"]
    chat = {"model": "rag", "messages": [{"role": "user", "content": "QLoRA?"}]}
    for wrong in ({"n": True}, {"stream_options": {"include_usage": 1}},
                  {"messages": [{"role": "user", "content": ["QLoRA?"]}]}):  # fmt: skip
        assert demo_client.post("/v1/chat/completions", json={**chat, **wrong}).status_code == 400


def test_where_is_repeated_not_comma_joined(demo_client: FlaskClient) -> None:
    doc = demo_client.get(f"{API}/openapi.json").json
    [where] = [p for p in doc["paths"]["/api/v1/documents"]["get"]["parameters"]
               if p["name"] == "where"]  # fmt: skip
    assert where["explode"] is True
    resp = demo_client.get(f"{API}/documents?where=a=1&where=b=2")
    assert resp.status_code == 200
    assert demo_client.get(f"{API}/documents?where=%20=1").status_code == 400


def test_a_parameter_given_twice_is_refused_not_guessed(demo_client: FlaskClient) -> None:
    for url in ("/graph/subgraph?depth=1&depth=3", "/documents?status=ready&status=failed",
                "/graph/entities?q=a&q=b", "/documents?per_page=5&per_page=500"):  # fmt: skip
        resp = demo_client.get(API + url)
        assert resp.status_code == 400 and "once" in resp.json["error"]["message"], url
