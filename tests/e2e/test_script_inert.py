"""Documents that carry script render inert on every page, in the real browser.

The payloads sit where a document's words reach a page: its file name, its title, its text,
its metadata, the names, types and descriptions of the entities and relations the graph
extracts from it, and the model's answer. Each payload, if it ever ran, would set
`window.xss` to its own number (and the longest ones `document.title` to OWNED); every page
is opened, used (a question asked, a node searched and hovered), and then asked whether any
did, whether any element with an event handler, an inline script, an image, an SVG or an
iframe came into the page, and whether the payload's text is on screen (so the test cannot
pass on a page that never showed it). Hostile addresses (`?q=`, `?next=`, a document id
that closes the page's JSON) are opened the same way.

The server is the real Flask app served over loopback by werkzeug in a thread, over a store
made with the hashing embedder and a scripted generator that also plays the graph extractor
(graph=llm), so the entity names are the payloads. The files go in through the upload page,
which is also where odd file names (Chinese, backslashes, a right-to-left override, a
240-byte name, a Windows device name) must come out shown safely.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from ingest.embedding import HashingEmbedder
from rag.engine import Engine
from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings
from web.app import create_app


def run(n: int) -> str:
    return f"window.xss={n}"


def img(n: int) -> str:
    return f"<img src=x onerror={run(n)}>"


def script(n: int) -> str:
    return f"<script>{run(n)}</script>"


BREAKOUT = f"\"'><script>{run(16)};document.title='OWNED'</script>"
MD_NAME = f"{img(3)}.md"
MD_TITLE = f"{script(1)}QLoRA {img(2)} notes"
MD_TEXT = (
    f"# {MD_TITLE}\n\n"
    "QLoRA quantizes the frozen base model to 4-bit NF4 and trains LoRA adapters on top, "
    f"so one GPU is enough. <svg onload={run(12)}></svg> "
    f'<iframe srcdoc="<script>parent.xss=13</script>"></iframe> [a link](javascript:{run(14)}) '
    f"<a href=\"javascript:{run(15)}\">x</a> {BREAKOUT} ' onmouseover='{run(17)}' "
    f"${{{run(18)}}} {{{{7*7}}}}\n"
)
HTML_TEXT = (
    "<html><head><title>&lt;img src=x onerror=window.xss=4&gt; LoRA page</title>"
    f"<script>{run(5)}</script></head><body>"
    "<h1>LoRA &lt;script&gt;window.xss=6&lt;/script&gt; adapters</h1>"
    "<p>LoRA trains low-rank adapters &lt;img src=x onerror=window.xss=7&gt; beside a frozen "
    "model; QLoRA builds on LoRA with a 4-bit base model and paged optimizers.</p>"
    f'<img src=x onerror="{run(8)}"><p onclick="{run(9)}">GPU memory for adapters.</p>'
    "</body></html>"
)
# metadata as the upload page's field takes it (key=value, comma-separated); no "=" in a key
METADATA = f"team={img(40)}, <script>window.xss++</script>=v"
ENTITY_A = img(30)  # names are at most 60 characters (graph/extract/llm.py)
ENTITY_B = script(31)
EXTRACTION = {
    "entities": [
        {"name": ENTITY_A, "type": "<b>t</b>", "description": img(32)},
        {"name": ENTITY_B, "type": "concept", "description": "QLoRA <i>adapters</i>"},
        {"name": "QLoRA", "type": "method", "description": f"<svg onload={run(34)}>"},
    ],
    "relations": [
        {"source": ENTITY_A, "target": ENTITY_B, "description": f"<svg onload={run(33)}>",
         "keywords": ["<i>k</i>"], "strength": 5},
        {"source": "QLoRA", "target": ENTITY_A, "description": img(35),
         "keywords": ["x"], "strength": 7},
    ],
}  # fmt: skip
ANSWER = (
    f"QLoRA fits on one GPU [1] {script(20)} {img(21)} because its base model is 4-bit [2]. "
    f"**bold** [x](javascript:{run(22)}) <details open ontoggle={run(23)}>"
)
# odd names through the page's file picker, and how the jobs must show them
ODD_NAMES = {
    "中文 文档（第2版）.md": "中文 文档（第2版）.md",
    "a\\b\\evil.md": None,  # a backslash in a Linux name: the server reads a path or an escape
    "\u202egnp.md": "_gnp.md",
    "长" * 80 + ".md": "长" * 65 + ".md",
    "CON.md": "_CON.md",
}
ODD_TEXT = "# Adapters\n\nLoRA adapters and QLoRA quantization for one GPU.\n"


def reply(messages: list[Message]) -> str:
    """The extractor's JSON when asked to extract, else the answer."""
    system = messages[0]["content"] if messages else ""
    if system.startswith(("Extract a knowledge graph", "从文本中抽取知识图谱")):
        return json.dumps(EXTRACTION)
    return ANSWER


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inert") / "store"


@pytest.fixture(scope="module")
def hostile(store: Path, vendor_dir: Path) -> Iterator[str]:
    """The app on a free loopback port over an empty store (graph extraction by the script)."""
    from werkzeug.serving import make_server

    settings = Settings.from_env(
        {"HOME": str(store.parent / "home")}, store_dir=store, embedder="hashing", graph="llm",
        llm_extract="all", unsupported_answers="show",  # the hostile answer must reach the page
    )  # fmt: skip
    engine = Engine(settings, embedder=HashingEmbedder(), generator=ScriptedGenerator(reply))
    app = create_app(engine=engine)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["rag"].close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-files")
    out = {MD_NAME: folder / MD_NAME, "payload.html": folder / "payload.html"}
    out[MD_NAME].write_text(MD_TEXT, "utf-8")
    out["payload.html"].write_text(HTML_TEXT, "utf-8")
    for name in ODD_NAMES:
        out[name] = folder / name
        out[name].write_text(ODD_TEXT, "utf-8")
    return out


def until(browser: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 30.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(check)


# What the page holds once it has run: whether a payload ran, and what of the payloads'
# markup became elements (the app's pages have no images, SVG, iframes or inline handlers).
PROBE = """
const own = new Set(["page-config", "i18n"]);
const handler = Array.from(document.querySelectorAll("*")).filter(
  (e) => Array.from(e.attributes).some((a) => a.name.startsWith("on") || a.name === "srcdoc"));
return {
  flag: window.xss === undefined ? null : String(window.xss),
  title: document.title,
  inline: Array.from(document.scripts).filter((s) => !s.src && !own.has(s.id)).length,
  handlers: handler.map((e) => e.outerHTML.slice(0, 120)),
  foreign: Array.from(document.querySelectorAll("main img, main svg, main iframe, main object, "
    + "main embed, main details[ontoggle]")).map((e) => e.outerHTML.slice(0, 120)),
  js_links: Array.from(document.querySelectorAll("a[href]"))
    .filter((a) => a.href.trim().toLowerCase().startsWith("javascript:")).length,
  text: document.body.innerText,
};
"""


def assert_inert(
    browser: WebDriver, where: str, *shown: str, own_markup: bool = False
) -> dict[str, Any]:
    """Nothing ran and nothing became markup; each of `shown` is on the page, as text.
    `own_markup`: a page whose own code draws SVG and starts inline (Swagger UI): only
    whether a payload ran is asked."""
    time.sleep(0.4)  # an <img src=x> would fail to load and fire onerror within this
    state: dict[str, Any] = browser.execute_script(PROBE)
    assert state["flag"] is None, f"{where}: payload {state['flag']} ran"
    assert "OWNED" not in state["title"], where
    if own_markup:
        return state
    assert state["inline"] == 0 and state["handlers"] == [] and state["foreign"] == [], (
        where, state["inline"], state["handlers"], state["foreign"])  # fmt: skip
    assert state["js_links"] == 0, where
    for text in shown:
        assert text in state["text"], f"{where}: {text!r} is not shown"
    return state


def open_page(browser: WebDriver, base: str, path: str) -> None:
    browser.get(base + path + ("&" if "?" in path else "?") + "lang=en")


# --- the tests: in order, the first uploads what the others show ------------------------------


def test_the_probe_sees_a_payload_that_runs(browser: WebDriver, hostile: str) -> None:
    """The check can fail: the same payload put into the page as markup is caught."""
    open_page(browser, hostile, "/ask")
    browser.execute_script(
        "document.querySelector('main').insertAdjacentHTML('beforeend', arguments[0])", img(99)
    )
    with pytest.raises(AssertionError, match="payload 99 ran"):
        assert_inert(browser, "probe")


def test_upload_page_shows_odd_and_hostile_names_as_text(
    browser: WebDriver, hostile: str, files: dict[str, Path], store: Path
) -> None:
    open_page(browser, hostile, "/upload")
    browser.find_element(By.ID, "upload-metadata").send_keys(METADATA)
    browser.find_element(By.ID, "file-input").send_keys("\n".join(str(p) for p in files.values()))

    def finished(_: WebDriver) -> list[str] | None:
        stages = browser.execute_script(
            "return Array.from(document.querySelectorAll('#jobs .job tbody .badge'))"
            ".map((b) => b.className.split(' ').pop());"
        )  # fmt: skip
        return stages if len(stages) == len(files) and set(stages) <= {"done", "failed"} else None

    stages = until(browser, finished, 180)
    assert set(stages) == {"done"}, stages
    names = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#jobs .job td.file")]
    assert "_img src=x onerror=window.xss=3_.md" in names  # < and > are not file-name characters
    for sent, expected in ODD_NAMES.items():
        if expected is not None:
            assert expected in names, (sent, names)
    backslashed = [n for n in names if n.endswith("evil.md")]
    assert len(backslashed) == 1 and "\\" not in backslashed[0], names
    for name in names:
        assert not any(c in name for c in "\\<>\u202e\u202d") and ".." not in name, name
    assert_inert(browser, "/upload", "中文 文档（第2版）.md")
    uploads = (store / "uploads").resolve()
    sources = [Path(r) for r in doc_sources(browser, hostile)]
    assert len(sources) == len(files)
    assert all(p.resolve().is_relative_to(uploads) and p.is_file() for p in sources), sources


def test_documents_list(browser: WebDriver, hostile: str) -> None:
    open_page(browser, hostile, "/documents")
    until(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#doc-rows tr")) >= 7)
    assert_inert(browser, "/documents", MD_TITLE, "<img src=x onerror=window.xss=4> LoRA page")
    # the search box filled from the address
    open_page(browser, hostile, "/documents?q=" + quote(BREAKOUT))
    until(browser, lambda b: b.find_element(By.ID, "q").get_attribute("value") == BREAKOUT)
    assert_inert(browser, "/documents?q=")


def documents(browser: WebDriver, base: str) -> list[dict[str, Any]]:
    """GET /api/v1/documents from the page, as its scripts call it."""
    rows: list[dict[str, Any]] = browser.execute_async_script(
        "fetch(arguments[0]).then((r) => r.json()).then((d) => arguments[1](d.documents));",
        base + "/api/v1/documents?per_page=50",
    )  # fmt: skip
    return rows


def doc_ids(browser: WebDriver, base: str) -> dict[str, str]:
    return {r["name"]: r["id"] for r in documents(browser, base)}


def doc_sources(browser: WebDriver, base: str) -> list[str]:
    return [r["source"] for r in documents(browser, base)]


def test_document_pages(browser: WebDriver, hostile: str) -> None:
    open_page(browser, hostile, "/documents")
    ids = doc_ids(browser, hostile)
    md = next(i for n, i in ids.items() if n.endswith("onerror=window.xss=3_.md"))
    open_page(browser, hostile, f"/documents/{md}")
    until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#chunks .chunk"))
    until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#doc-entities .chip"))
    # the text, the title, the metadata (key and value), the entity names
    assert_inert(browser, f"/documents/{md}", BREAKOUT.strip(), MD_TITLE, img(40),
                 "<script>window.xss++</script>", ENTITY_A, ENTITY_B)  # fmt: skip
    html = ids["payload.html"]
    open_page(browser, hostile, f"/documents/{html}")
    until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#chunks .chunk"))
    assert_inert(browser, f"/documents/{html}", "<script>window.xss=6</script>",
                 "<img src=x onerror=window.xss=7>")  # fmt: skip


def test_a_hostile_document_id_in_the_address(browser: WebDriver, hostile: str) -> None:
    """An id goes into the page's JSON config and into the error the API answers; one with a
    "/" (all a `</script>` needs) is no document page at all, but the server's 404."""
    for hostile_id in (f'"><img src=x onerror={run(51)}>', f"'-{run(54)}-'\u2028{img(55)}"):
        open_page(browser, hostile, "/documents/" + quote(hostile_id, safe=""))
        until(browser, lambda b: b.find_element(By.ID, "doc-error").is_displayed())
        assert_inert(browser, "/documents/<id>")
    open_page(browser, hostile, "/documents/" + quote(f"</script>{script(50)}", safe=""))
    until(browser, lambda b: "404" in b.find_element(By.TAG_NAME, "h1").text)
    assert_inert(browser, "/documents/</script>")


@pytest.mark.parametrize("page", ["/ask", "/compare"])
def test_answers_and_their_sources(browser: WebDriver, hostile: str, page: str) -> None:
    open_page(browser, hostile, page)
    browser.find_element(By.ID, "question").send_keys("How does QLoRA fit on one GPU?")
    browser.find_element(By.ID, "submit").click()
    answers = "#answer" if page == "/ask" else ".column .answer"
    until(browser, lambda b: not b.find_element(By.ID, "submit").get_attribute("disabled")
          and all("because its base model" in a.text
                  for a in b.find_elements(By.CSS_SELECTOR, answers)), 120)  # fmt: skip
    assert browser.find_elements(By.CSS_SELECTOR, answers + " a.cite"), "no citation drawn"
    assert_inert(browser, page, script(20), img(21))
    # a citation's tooltip is the cited passage
    cite = browser.find_element(By.CSS_SELECTOR, answers + " a.cite")
    ActionChains(browser).move_to_element(cite).perform()
    until(browser, lambda b: b.find_element(By.ID, "cite-tip").is_displayed())
    assert_inert(browser, page + " (citation tooltip)")


def test_a_question_in_the_address(browser: WebDriver, hostile: str) -> None:
    open_page(browser, hostile, "/ask?q=" + quote(BREAKOUT) + "&mode=" + quote(img(52)))
    until(browser, lambda b: b.find_element(By.ID, "question").get_attribute("value") == BREAKOUT)
    assert_inert(browser, "/ask?q=")


def test_retrieval(browser: WebDriver, hostile: str) -> None:
    open_page(browser, hostile, "/retrieval")
    browser.find_element(By.ID, "question").send_keys("QLoRA LoRA adapters 4-bit")
    browser.find_element(By.ID, "compare-methods").click()
    until(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#methods .column")) == 3
          and all(c.find_elements(By.CSS_SELECTOR, ".hit")
                  for c in b.find_elements(By.CSS_SELECTOR, "#methods .column")), 60)  # fmt: skip
    assert_inert(browser, "/retrieval", "LoRA page")
    # the doc filter's list holds every document's name and title
    search = browser.find_element(By.ID, "doc-search")
    search.send_keys("onerror")
    assert_inert(browser, "/retrieval (document filter)")


def test_graph(browser: WebDriver, hostile: str) -> None:
    open_page(browser, hostile, "/graph")
    until(browser, lambda b: b.execute_script("return window.ragGraph.nodes.length") > 1)
    browser.find_element(By.ID, "entity-q").send_keys("onerror\n")
    pressed = until(browser, lambda b: b.execute_script(
        "const b = Array.from(document.querySelectorAll('#entity-results li button'))"
        ".find((x) => x.textContent.includes('onerror=window.xss=30')); if (b) b.click(); return !!b;"
    ))  # fmt: skip
    assert pressed
    until(browser, lambda b: ENTITY_A in b.find_element(By.ID, "details").text)
    assert_inert(browser, "/graph (an entity's details)", ENTITY_A, img(32))
    # hover each drawn node: vis-network shows its tooltip element
    time.sleep(1.0)  # the layout settles
    points = browser.execute_script(
        "const g = window.ragGraph; g.network.stopSimulation();"
        "return g.nodes.getIds().map((id) => g.network.canvasToDOM(g.network.getPositions([id])[id]));"
    )  # fmt: skip
    canvas = browser.find_element(By.CSS_SELECTOR, "#network canvas")
    size = canvas.size
    shown = set()
    for p in points[:8]:
        x, y = int(p["x"] - size["width"] / 2), int(p["y"] - size["height"] / 2)
        if abs(x) >= size["width"] / 2 or abs(y) >= size["height"] / 2:
            continue
        ActionChains(browser).move_to_element_with_offset(canvas, x, y).perform()
        time.sleep(0.4)
        shown.add(browser.execute_script(
            "const t = document.querySelector('.vis-tooltip');"
            "return t && t.style.visibility !== 'hidden' ? t.textContent : '';"
        ))  # fmt: skip
        assert_inert(browser, "/graph (a node's tooltip)")
    assert any("onerror" in s or "<script>" in s or "svg onload" in s for s in shown), shown
    # the communities list names them too
    assert_inert(browser, "/graph (communities)")
    open_page(browser, hostile, "/graph?entities=" + quote(f"{ENTITY_A},{BREAKOUT}"))
    until(browser, lambda b: b.execute_script("return window.ragGraph.nodes.length") > 0)
    assert_inert(browser, "/graph?entities=")


@pytest.mark.parametrize(
    "path",
    [
        "/login?next=" + quote(BREAKOUT),
        "/documents?lang=en&page=" + quote(BREAKOUT),
        "/no-such-page/" + quote(img(53)),
    ],
)
def test_hostile_addresses(browser: WebDriver, hostile: str, path: str) -> None:
    browser.get(hostile + path)
    assert_inert(browser, path)


def test_swagger_ui_draws_the_document_inert(browser: WebDriver, hostile: str) -> None:
    browser.get(hostile + "/api/docs?x=" + quote(BREAKOUT) + "#/" + quote(img(56)))
    until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert_inert(browser, "/api/docs", "/api/v1/documents", own_markup=True)
