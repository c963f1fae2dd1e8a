"""Drift page: performance estimated before labels, beside the realized metric."""

from __future__ import annotations

import pytest
from monitoring_helpers import (
    edit_config,
    forget_artifact_repos,
    log_predictions,
    send_feedback,
)
from ui_helpers import page, texts
from workspaces import copy_workspace

from core.monitoring.check import run_check
from core.monitoring.history import read_history
from core.training.data import load_split
from core.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def estimate_ws(trained_template, tmp_path, monkeypatch) -> Workspace:
    """A labelled check of 300 holdout predictions, then an unlabelled one of 300 more."""
    forget_artifact_repos()
    root = copy_workspace(trained_template, tmp_path / "ws")
    ws = edit_config(Workspace.open(root), monitoring={"min_rows": 10})
    split = load_split(ws)
    X, y = split.X_test, split.y_test
    ids = log_predictions(ws, X.iloc[:300], hours_ago=3)
    send_feedback(ws, ids, y.iloc[:300])
    run_check(ws, "24h")
    log_predictions(ws, X.iloc[300:600], hours_ago=1)
    run_check(ws, "90m")
    forget_artifact_repos()
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    yield Workspace.open(root)
    forget_artifact_repos()


def test_drift_page_shows_the_estimate_its_assumption_and_the_estimate_over_time(estimate_ws):
    at = page("drift")

    assert not at.exception
    latest = read_history(estimate_ws)[-1]
    metric = latest["estimate"]["metric"]
    shown = {m.label: m.value for m in at.metric}
    assert shown[f"{metric} (estimated)"] == f"{latest['estimate']['value']:.4f}"
    table = next(d.value for d in at.dataframe if "estimated" in d.value.columns)
    assert {"accuracy", "roc_auc"} <= set(table["metric"])
    assert table["realized"].isna().all()  # the latest window has no labels yet
    caption = " ".join(texts(at.caption))
    assert "covariate shift only" in caption and "calibrated on the holdout" in caption
    assert "Watched metric: estimated before labels vs realized" in " ".join(texts(at.markdown))
