"""The Jobs page in a real browser, with a real scheduler applying what the clicks queue."""

from __future__ import annotations

import pytest
from scheduling import running_service, set_schedules, wait_for
from test_ui_browser import CHROMIUM, browser_page, serve

from core.jobs import JobsDB

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


def test_pause_and_run_a_job_from_the_jobs_page_in_chromium(ui_ws_copy, tmp_path):
    from playwright.sync_api import sync_playwright

    ws = set_schedules(ui_ws_copy)
    db = JobsDB.for_workspace(ws)
    with (
        running_service(ws),
        serve(ws.root, tmp_path / "streamlit.log") as url,
        sync_playwright() as p,
    ):
        browser, page = browser_page(p)
        try:
            page.goto(f"{url}/jobs", timeout=30_000)
            page.get_by_role("heading", name="Jobs").wait_for(timeout=60_000)
            page.get_by_text("Scheduler running", exact=False).wait_for(timeout=30_000)

            page.get_by_role("button", name="Pause", exact=True).click()  # data_pipeline
            page.get_by_text("Pause data_pipeline: queued", exact=False).wait_for(timeout=30_000)
            wait_for(lambda: db.schedule()["data_pipeline"]["paused"], 20, "the pause")

            page.get_by_role("button", name="Run now", exact=True).click()
            page.get_by_text("Run data_pipeline: queued", exact=False).wait_for(timeout=30_000)
            run = wait_for(
                lambda: [r for r in db.runs(job="data_pipeline") if r["status"] != "running"],
                60,
                "the run",
            )[0]

            page.reload()
            page.get_by_role("heading", name="History").wait_for(timeout=60_000)
            detail = f"Run {run['id']}: data_pipeline {run['status']} · manual"
            page.get_by_text(detail, exact=False).first.wait_for(timeout=30_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)  # the timeline
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()

    assert run["trigger"] == "manual" and run["status"] == "skipped"  # nothing new landed
    assert db.schedule()["data_pipeline"]["paused"] is True
