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
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

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


def need(condition: bool, why: str) -> None:
    """Skip with `why` when `condition` is false; fail under CI, which installs what is needed."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI installs it: run `make test`)")
    pytest.skip(why)


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
