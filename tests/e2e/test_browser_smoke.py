"""The vendored vis-network draws a graph in headless Chromium, offline.

A bare page served from a temporary folder loads the copy that scripts/vendor_js.sh put in
web/static/vendor/ and draws two nodes. It proves the install side of the web app: the browser
starts, the vendored file is the standalone build (it needs nothing else, its CSS included),
and nothing is fetched from anywhere but this page's own server.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>vis-network smoke</title>
<link rel="icon" href="data:,">
</head><body>
<div id="graph" style="width: 600px; height: 400px; border: 1px solid #ccc"></div>
<script src="vendor/vis-network/vis-network.min.js"></script>
<script>
  const nodes = new vis.DataSet([
    {id: 1, label: "QLoRA", color: "#d33"},
    {id: 2, label: "LoRA", color: "#33d"},
  ]);
  const edges = new vis.DataSet([{from: 1, to: 2, label: "extends"}]);
  const network = new vis.Network(
    document.getElementById("graph"), {nodes, edges}, {physics: false}
  );
  network.once("afterDrawing", () => { window.drawn = true; });
</script>
</body></html>
"""

# Counts the canvas pixels that are not fully transparent: an empty canvas has none.
PAINTED_PIXELS = """
const canvas = document.querySelector("#graph canvas");
const {width, height} = canvas;
const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
let painted = 0;
for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
return painted;
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path, vendor_dir: Path) -> Iterator[str]:
    """A page and a copy of the vendored files, served on a free loopback port."""
    shutil.copytree(vendor_dir, tmp_path / "vendor")
    (tmp_path / "index.html").write_text(PAGE, "utf-8")
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_vendored_vis_network_draws_offline(
    browser: webdriver.Chrome, site: str, screenshot_dir: Path
) -> None:
    browser.get(f"{site}/index.html")
    WebDriverWait(browser, 15).until(lambda b: b.execute_script("return window.drawn === true"))

    assert browser.execute_script("return typeof window.vis.Network") == "function"
    canvases = browser.find_elements(By.CSS_SELECTOR, "#graph canvas")
    assert len(canvases) == 1
    assert canvases[0].size["width"] > 0 and canvases[0].size["height"] > 0
    assert browser.execute_script(PAINTED_PIXELS) > 500

    # The standalone build injects its stylesheet; the peer build would need a separate CSS file.
    styles = browser.execute_script(
        "return [...document.querySelectorAll('style')].map(s => s.textContent).join('')"
    )
    assert ".vis-network-tooltip" in styles or "div.vis-tooltip" in styles

    # Everything came from this page's own server, and nothing failed to load or threw.
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources and all(url.startswith(site) for url in resources)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    shot = screenshot_dir / "vis-network-smoke.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
