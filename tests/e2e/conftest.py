"""Fixtures for the browser tests: a headless Chromium driven by Selenium, a screenshot folder.

The browser is Debian's chromium with its own chromedriver (scripts/setup_browser.sh installs
both; `make test` runs it). Selenium Manager is never asked for anything: it would try to
download a driver or a browser, and these machines reach only the package registries. Where
the browser is missing the tests skip with the install command, except under CI (CI=true),
where a skip would hide a broken install step, so they fail.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.conftest import need  # skip here, fail under CI (which installs what is missing)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HERE = Path(__file__).resolve().parent
VENDOR = HERE.parents[1] / "web" / "static" / "vendor"

# Headless, as root, on a machine with no network but loopback. Without the background-networking
# flags Chromium keeps opening connections to Google's hosts that the closed network refuses.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",  # Chromium's sandbox refuses to run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers; crashes tabs on big pages
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the web UI in headless Chromium (tests/e2e)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected item, not only this folder's: mark just ours.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the whole session, with a fresh empty profile."""
    need(
        CHROMIUM.is_file() and CHROMEDRIVER.is_file(),
        f"{CHROMIUM} or {CHROMEDRIVER} is missing: run `bash scripts/setup_browser.sh` "
        "(apt-get install chromium chromium-driver)",
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    # Console messages, so a test can assert that a page logged no error.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with (
        pytest.MonkeyPatch.context() as env,
        tempfile.TemporaryDirectory(prefix="rag-chromium-") as profile,
    ):
        # The explicit driver path already skips Selenium Manager; these keep it offline and
        # silent should anything still call it.
        env.setenv("SE_OFFLINE", "true")
        env.setenv("SE_AVOID_STATS", "true")
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="session")
def vendor_dir() -> Path:
    """web/static/vendor, filled by scripts/vendor_js.sh (which scripts/setup.sh runs)."""
    need(
        (VENDOR / "vis-network" / "vis-network.min.js").is_file(),
        f"{VENDOR} is not vendored: run `bash scripts/vendor_js.sh`",
    )
    return VENDOR


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests save screenshots: $RAG_SCREENSHOTS when set (to keep them), else a temp dir."""
    if wanted := os.environ.get("RAG_SCREENSHOTS"):
        path = Path(wanted)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


# --- a real `rag serve` on loopback ------------------------------------------------------------

E2E_ANSWER = (
    "QLoRA quantizes the frozen base model to 4-bit NF4 [1] and trains LoRA adapters on top, "
    "which is why one GPU is enough [2]."
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, proc: Any, timeout: float = 120.0) -> dict[str, Any]:
    import json
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rag serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/api/v1/health", timeout=5) as resp:
                return dict(json.load(resp))
        except urllib.error.HTTPError as e:  # 503: up, a model missing
            return dict(json.load(e))
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"rag serve did not answer on {base} within {timeout}s")


@dataclass
class LiveServer:
    url: str
    store: Path
    log: Path
    api_key: str | None = None
    llm: Any = None  # the scripted endpoint's FakeOpenAI: the requests the generator sent


@contextmanager
def serve_live(tmp: Path, api_key: str | None = None) -> Iterator[LiveServer]:
    """`rag serve` on a free loopback port over an empty store in `tmp`, with the real
    embedder and a scripted OpenAI-compatible endpoint as the generator (its answer streams a
    word every 40 ms, citing [1] and [2]), so what a client sees does not depend on a model's
    whims; `api_key` becomes the server's RAG_API_KEY."""
    import subprocess
    import sys

    from rag.models.registry import MODELS, is_installed
    from rag.settings import Settings
    from tests.fake_openai import fake_openai

    models = Settings.from_env().models_dir
    need(is_installed(MODELS["embedder"], models), "the e5 embedder is not installed")
    port = free_port()
    log = tmp / "serve.log"
    with fake_openai(E2E_ANSWER, token_delay_s=0.04) as (llm_url, llm):
        env = {**os.environ, "HOME": str(tmp / "home"), "RAG_MODELS_DIR": str(models),
               "RAG_OPENAI_BASE_URL": llm_url, "RAG_OPENAI_MODEL": "scripted",
               # the scripted endpoint answers; it is no translator (rag/crosslingual.py)
               "RAG_TRANSLATE_QUERIES": "off"}  # fmt: skip
        env.pop("RAG_STORE", None)
        env.pop("RAG_API_KEY", None)
        if api_key:
            env["RAG_API_KEY"] = api_key
        rag = Path(sys.executable).with_name("rag")  # the venv's console script
        cmd = [str(rag), "serve", "--store", str(tmp / "store"), "--port", str(port)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            yield LiveServer(url, tmp / "store", log, api_key, llm)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`rag serve` without an API key (serve_live)."""
    with serve_live(tmp_path_factory.mktemp("live")) as server:
        yield server


@pytest.fixture(scope="module")
def keyed_live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`rag serve` with RAG_API_KEY set (serve_live)."""
    with serve_live(tmp_path_factory.mktemp("live-keyed"), api_key="e2e-s3cret") as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_console(request: pytest.FixtureRequest) -> None:
    """The browser is shared by the session: drop what earlier tests left in its console log,
    so a test that checks for console errors sees only its own (test_script_inert loads
    hostile pages whose broken images log errors on purpose)."""
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").get_log("browser")
