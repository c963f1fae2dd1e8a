"""Serving page, "Where the time goes": per-phase latency scraped from a real API process."""

from __future__ import annotations

import httpx
import pytest
from servers import api_server
from test_ui_serving import records as holdout_records
from ui_helpers import page, texts
from workspaces import copy_workspace

from core.workspace import Workspace

pytestmark = pytest.mark.slow

PHASES = ["parse", "validate", "transform", "predict", "log"]


@pytest.fixture(scope="module")
def served(trained_template, tmp_path_factory):
    """A real API over a copy of the trained workspace, after 4 scoring requests."""
    root = copy_workspace(trained_template, tmp_path_factory.mktemp("phases") / "ws")
    with api_server(root, WORKBENCH_API_KEYS="k") as (url, _):
        ws = Workspace.open(root)
        records = holdout_records(url, ws, 3)
        columns = list(records[0])
        bodies = [
            ("/predict", {"records": records}),
            ("/predict", {"columns": columns, "rows": [[r[c] for c in columns] for r in records]}),
            ("/invocations", {"dataframe_records": records}),
            ("/invocations", {"inputs": records}),
        ]
        for path, body in bodies:
            resp = httpx.post(url + path, json=body, headers={"X-API-Key": "k"}, timeout=30)
            assert resp.status_code == 200, resp.text
        yield url, ws


def test_where_the_time_goes_shows_p50_and_p95_of_every_phase(served, monkeypatch):
    url, ws = served
    monkeypatch.setenv("WORKBENCH_HOME", str(ws.root))
    monkeypatch.setenv("WORKBENCH_API_URL", url)
    for var in ("MLFLOW_TRACKING_URI", "WORKBENCH_TRACKING_URI", "WORKBENCH_API_KEYS"):
        monkeypatch.delenv(var, raising=False)

    at = page("serving")

    assert not at.exception
    assert "**Where the time goes**" in texts(at.markdown)
    table = next(d.value for d in at.dataframe if "phase" in d.value.columns)
    assert list(table["phase"]) == PHASES  # in the order a request goes through them
    assert list(table["requests"]) == [4] * 5
    assert (table["p50_ms"] > 0).all() and (table["p95_ms"] >= table["p50_ms"]).all()
    figures = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Where the time goes" in spec and '"p95"' in spec for spec in figures)
