"""The Lineage page through the app's navigation: every hop a link (MLflow or a page)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from lineage_setup import V1_PREDICTIONS, V2_PREDICTIONS, build
from ui_helpers import FIRST_RUN_TIMEOUT, MAIN, PAGES, app, texts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lineage_root(two_versions_template, tmp_path_factory):
    return build(two_versions_template, tmp_path_factory.mktemp("ui-lineage") / "ws").root


@pytest.fixture
def page(lineage_root, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(lineage_root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WORKBENCH_MLFLOW_UI_URL", "http://127.0.0.1:5999")
    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)
    return at.switch_page("../pages/lineage.py").run(timeout=FIRST_RUN_TIMEOUT)


def _links(at) -> list:
    return [e.proto for e in at.get("page_link")]


def test_the_champion_lineage_links_every_hop(page):
    assert not page.exception
    assert texts(page.title) == ["Lineage"]
    assert page.selectbox(key="version").value == "2"  # the champion by default
    links = _links(page)
    hops = [m for m in texts(page.markdown) if m.startswith("`")]
    assert len(links) == len(hops) > 10  # one link per hop
    mlflow = [link for link in links if link.external]
    assert {link.label for link in mlflow} == {"MLflow"}
    assert any("/#/models/flights-delay/versions/2" in link.page for link in mlflow)
    assert any("#/experiments/" in link.page and "/runs/" in link.page for link in mlflow)
    assert all(link.page.startswith("http://127.0.0.1:5999/") for link in mlflow)
    to_pages = {link.label for link in links if not link.external}
    assert {"Data page", "Models page", "Drift page", "Serving page"} <= to_pages
    batches = [
        parse_qs(link.query_string)
        for link in links
        if "batch=" in link.query_string and "Validation" in link.query_string
    ]
    assert len({b["batch"][0] for b in batches}) == 3  # each batch opens its own reports
    assert any(f"count={V2_PREDICTIONS}" in hop for hop in hops)
    assert page.get("graphviz_chart")


def test_another_version_is_followed_when_picked(page):
    page.selectbox(key="version").select("1").run()

    assert not page.exception
    hops = [m for m in texts(page.markdown) if m.startswith("`")]
    assert any(f"count={V1_PREDICTIONS}" in hop for hop in hops)
    assert any("initial_champion" in hop for hop in hops)


def test_the_data_page_opens_the_run_that_validated_a_linked_batch(ui_env):
    from core.data.pipeline import list_runs
    from core.workspace import Workspace

    runs = [r for r in list_runs(Workspace.open(ui_env)) if r["batches"]]  # newest first
    first, latest = runs[-1], runs[0]
    assert first["run_id"] != latest["run_id"]
    at = app(PAGES / "data.py")
    at.query_params["batch"] = first["batches"][0]["batch_id"]
    at.run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert any(f"Run `{first['run_id']}`" in m for m in texts(at.markdown))
