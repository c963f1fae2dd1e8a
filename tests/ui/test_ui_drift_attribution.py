"""Drift page: attribution drift (the importance ranking's nDCG against its threshold, the
reference vs current ranking chart, nDCG over checks)."""

from __future__ import annotations

import json

import pytest
from monitoring_helpers import edit_config, forget_artifact_repos, holdout, log_predictions
from ui_helpers import page, texts
from workspaces import copy_workspace

from app.views import drift as view
from core.monitoring.attribution import FILE, reference_order
from core.monitoring.check import run_check
from core.monitoring.history import read_history
from core.monitoring.profiles import load_reference, reference_dir
from core.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def attribution_ws(trained_template, tmp_path, monkeypatch) -> Workspace:
    """A check of the reference rows (no drift), then one where the top two fields are frozen."""
    forget_artifact_repos()
    root = copy_workspace(trained_template, tmp_path / "ws")
    ws = edit_config(Workspace.open(root), monitoring={"min_rows": 10})
    X, _ = holdout(ws)
    log_predictions(ws, X, hours_ago=3)
    run_check(ws, "24h")
    load_reference(ws)
    cached = reference_dir(ws, ws.config.model_name, "1") / FILE
    top = reference_order(json.loads(cached.read_text())["values"])
    log_predictions(ws, X.assign(**{f: X[f].mode().iloc[0] for f in top[:2]}), hours_ago=1)
    run_check(ws, "90m")
    forget_artifact_repos()
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    yield Workspace.open(root)
    forget_artifact_repos()


def test_drift_page_shows_the_ndcg_against_its_threshold_and_both_rankings(attribution_ws):
    at = page("drift")

    assert not at.exception
    clean, latest = (r["attribution_drift"] for r in read_history(attribution_ws))
    assert clean["drifted"] is False and latest["drifted"] is True
    assert "Attribution drift: yes" in [e.label for e in at.expander]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Importance ranking nDCG"] == f"{latest['ndcg']:.3f}"
    assert shown["Threshold"] == "0.90"
    caption = " ".join(texts(at.caption))
    assert f"nDCG {latest['ndcg']:.3f} < threshold 0.90: attribution drift" in caption
    assert "SageMaker Clarify" in caption
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    ranking = next(c for c in charts if c["layout"].get("barmode") == "group")
    assert [t["name"] for t in ranking["data"]] == ["reference", "current"]
    first = reference_order(latest["reference_importance"])[0]
    assert ranking["data"][0]["y"][0].startswith(f"{first}  #1 → #")
    assert any(t.get("y") and t["y"][-1] == latest["ndcg"] for c in charts for t in c["data"])


def test_attribution_frame_orders_fields_as_the_reference_and_says_how_far_they_moved():
    record = {
        "attribution_drift": {
            "ndcg": 0.8,
            "threshold": 0.9,
            "drifted": True,
            "reference_importance": {"a": 0.6, "b": 0.3, "c": 0.1},
            "current_importance": {"a": 0.1, "b": 0.3, "c": 0.6},
        }
    }

    frame = view.attribution_frame(record)

    assert frame["field"].tolist() == ["a", "b", "c"]
    assert frame["current rank"].tolist() == [3, 2, 1]
    assert frame["moved"].tolist() == [-2, 0, 2]
    assert view.attribution_chart(frame).data[0].y[0] == "a  #1 → #3"
