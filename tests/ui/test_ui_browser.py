"""The real app in a real browser: `streamlit run app/main.py` driven by Debian chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ui_helpers import BAD_FILE, MAIN, REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url}/_stcore/health did not answer ok within {timeout} s")


@contextlib.contextmanager
def serve(workspace: Path, log_path: Path):
    """`streamlit run app/main.py` on a free port for `workspace`; yields the base URL."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TRACKING_URI")}
    log = log_path.open("w")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=dict(env, WORKBENCH_HOME=str(workspace)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def streamlit_url(ui_env, tmp_path):
    with serve(ui_env, tmp_path / "streamlit.log") as url:
        yield url


@pytest.fixture
def experiments_url(exp_ws, tmp_path):
    with serve(exp_ws[0], tmp_path / "streamlit.log") as url:
        yield url


def browser_page(p):
    """A new page in Debian chromium (headless)."""
    browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    return browser, browser.new_page()


def test_data_page_shows_the_latest_validation_in_chromium(streamlit_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(f"{streamlit_url}/data", timeout=30_000)
            page.get_by_role("heading", name="Data").wait_for(timeout=60_000)
            # the failing rule of the quarantined batch, as the expander names it
            failing = page.get_by_text(f"FAIL · {BAD_FILE} · missing_rate on carrier")
            failing.wait_for(timeout=60_000)
            assert page.get_by_text("raw: ", exact=False).first.is_visible()
            assert "1 fail" in page.get_by_text("raw: ", exact=False).first.inner_text()
            # the embedded HTML report of that batch: real table cells with rule and status
            report = page.frame_locator("iframe").first
            report.get_by_text("missing_rate").first.wait_for(timeout=30_000)
            assert BAD_FILE in report.locator("h1").inner_text()
            assert report.locator("h1 .badge").inner_text().lower() == "fail"
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()


def test_a_shared_experiments_link_opens_the_comparison_in_chromium(experiments_url, exp_ws):
    from playwright.sync_api import sync_playwright

    ids = exp_ws[1]
    rf, knn = ids["random_forest@v1"], ids["knn@v1"]
    with sync_playwright() as p:
        browser, page = browser_page(p)
        try:
            page.goto(f"{experiments_url}/experiments?runs={rf},{knn}", timeout=30_000)
            page.get_by_role("heading", name="Experiments").wait_for(timeout=60_000)
            page.get_by_role("heading", name="Comparison of 2 runs").wait_for(timeout=60_000)
            for section in ("Metrics", "Parameters", "Parallel coordinates", "Plots"):
                page.get_by_role("heading", name=section).wait_for(timeout=30_000)
            page.get_by_text("4 of 4 parameters differ", exact=False).wait_for(timeout=30_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
            page.get_by_text(f"random_forest · {rf[:8]}").first.wait_for(timeout=30_000)
            page.locator("[data-testid=stImage] img").first.wait_for(timeout=30_000)
            assert f"runs={rf}" in page.url
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()
