"""The pages: each renders in both languages with every interface string it names, the language
choice sticks, page scripts get their strings and choices as JSON, and document text stays text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from flask.testing import FlaskClient

from rag.choices import GRAPH_STRATEGIES, RETRIEVAL_METHODS
from rag.modes.registry import MODES
from web import i18n
from web.jobs import FileStage, JobState
from web.shapes import DOCUMENT_STATUSES

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = ["/ask", "/compare", "/retrieval", "/documents", "/upload", "/graph", "/login"]


def _config(html: str, element_id: str) -> Any:
    m = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert m, element_id
    return json.loads(m.group(1))


def test_every_string_in_both_languages_with_the_same_placeholders() -> None:
    for key, both in i18n.STRINGS.items():
        assert set(both) == {"en", "zh"}, key
        assert all(both.values()), key
        names = {lang: set(re.findall(r"\{(\w+)\}", text)) for lang, text in both.items()}
        assert names["en"] == names["zh"], key


def test_every_key_the_templates_and_scripts_name_exists() -> None:
    used: set[str] = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("static/js/*.js")]:
        used |= set(
            re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]*[a-z_])["']""", path.read_text("utf-8"))
        )
    dynamic = {
        "status": DOCUMENT_STATUSES, "jobstate": get_args(JobState), "stage": get_args(FileStage),
        "method": RETRIEVAL_METHODS, "strategy": GRAPH_STRATEGIES, "mode_help": tuple(MODES),
    }  # fmt: skip
    used |= {f"{prefix}.{v}" for prefix, values in dynamic.items() for v in values}
    assert used - set(i18n.STRINGS) == set()


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_render(client: FlaskClient, path: str, lang: str) -> None:
    resp = client.get(f"{path}?lang={lang}")
    assert resp.status_code == 200, resp.data[:500]
    html = resp.get_data(as_text=True)
    assert i18n.STRINGS["app.name"][lang] in html
    if path != "/login":
        assert _config(html, "i18n")["nav.ask"] == i18n.STRINGS["nav.ask"][lang]
        config = _config(html, "page-config")
        assert [m["name"] for m in config["modes"]] == list(MODES)
        assert config["api"] == "/api/v1"


def test_language_from_query_then_cookie_then_accept_language(client: FlaskClient) -> None:
    zh = i18n.STRINGS["nav.ask"]["zh"]
    assert zh in client.get("/ask", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(True)
    assert zh not in client.get("/ask", headers={"Accept-Language": "en-US"}).get_data(True)
    resp = client.get("/ask?lang=zh", headers={"Accept-Language": "en-US"})
    assert "lang=zh" in resp.headers["Set-Cookie"]
    assert zh in client.get("/documents", headers={"Accept-Language": "en-US"}).get_data(True)


def test_root_redirects_to_ask(client: FlaskClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/ask")


def test_document_page_carries_its_id_as_data(client: FlaskClient) -> None:
    html = client.get("/documents/<script>x").get_data(as_text=True)
    assert "<script>x" not in html  # autoescaped in the JSON blob as \u003c
    assert _config(html, "page-config")["doc_id"] == "<script>x"


def test_page_scripts_never_write_html() -> None:
    for path in WEB.glob("static/js/*.js"):
        text = path.read_text("utf-8")
        assert not re.search(
            r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", text
        ), path
