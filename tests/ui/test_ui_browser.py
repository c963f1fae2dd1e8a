"""The real app in a real browser: `streamlit run app/main.py` driven by Debian chromium."""

from __future__ import annotations

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


@pytest.fixture
def streamlit_url(ui_env, tmp_path):
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
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=dict(os.environ, WORKBENCH_HOME=str(ui_env)),
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
