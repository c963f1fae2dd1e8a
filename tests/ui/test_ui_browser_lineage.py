"""The Lineage page in a real browser: a shared `?version=N` link, hops that navigate."""

from __future__ import annotations

import pytest
from lineage_setup import V1_PREDICTIONS, build
from test_ui_browser import CHROMIUM, browser_page, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def lineage_url(two_versions_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-lineage") / "ws"
    build(two_versions_template, root)
    with serve(root, root.parent / "streamlit.log") as url:
        yield url


def test_a_version_link_opens_its_lineage_and_a_batch_hop_opens_its_validation(lineage_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = browser_page(p)
        try:
            page.goto(f"{lineage_url}/lineage?version=1", timeout=30_000)
            page.get_by_role("heading", name="Lineage").wait_for(timeout=120_000)  # a cold server
            page.get_by_text("made flights-delay v1 (champion: v2)").wait_for(timeout=60_000)
            page.locator("code", has_text=f"count={V1_PREDICTIONS}").wait_for(timeout=30_000)
            # the page renders section by section (and may rerun once for the query): wait for
            # each hop's link rather than reading the links at one instant
            for link in ('a[href*="/#/models/flights-delay/versions/1"]', 'a[href*="/runs/"]'):
                page.locator(link).first.wait_for(timeout=60_000)
            page.locator('a[href*="batch="]').first.wait_for(timeout=60_000)
            hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.href)")
            assert any("/#/experiments/" in h and "/runs/" in h for h in hrefs)
            batch = next(h for h in hrefs if "batch=" in h)
            assert "tab=Validation" in batch
            page.locator(f'a[href*="{batch.split("?", 1)[1]}"]').first.click()
            page.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)
            page.get_by_text("3 batch(es) accepted", exact=False).first.wait_for(timeout=60_000)
            assert "batch=" in page.url
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()


def test_the_models_page_links_the_reviewed_version_to_its_lineage(lineage_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = browser_page(p)
        try:
            page.goto(f"{lineage_url}/models", timeout=30_000)
            page.get_by_role("heading", name="Models").first.wait_for(timeout=60_000)
            link = page.get_by_role("link", name="Lineage of v1")
            link.wait_for(timeout=60_000)
            assert link.get_attribute("href") == "lineage?version=1"
            page.goto(f"{lineage_url}/{link.get_attribute('href')}", timeout=30_000)
            page.get_by_text("made flights-delay v1", exact=False).wait_for(timeout=60_000)
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()
