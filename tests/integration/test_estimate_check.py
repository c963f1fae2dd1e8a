"""Performance before labels on a trained demo workspace: the check, its history, the CLI."""

from __future__ import annotations

import json

import pytest
from cli_output import flat
from monitoring_helpers import forget_artifact_repos, log_predictions, send_feedback
from typer.testing import CliRunner

from app.cli import app
from core.monitoring.check import run_check
from core.monitoring.history import read_history
from core.training.data import load_split

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _forget_artifact_repos():
    forget_artifact_repos()
    yield
    forget_artifact_repos()


def test_a_check_estimates_the_metrics_labels_later_realize(trained_ws):
    split = load_split(trained_ws)  # the holdout the calibration was fitted on: unseen rows
    X, y = split.X_test, split.y_test
    ids = log_predictions(trained_ws, X)

    before = run_check(trained_ws, "all")
    cache = trained_ws.state / "monitoring" / "calibration" / trained_ws.config.model_name
    stamp = (cache / "v1.json").stat().st_mtime_ns
    send_feedback(trained_ws, ids, y)
    after = run_check(trained_ws, "all")

    est = before.estimated_performance
    assert before.performance is None and {"accuracy", "roc_auc", "f1"} <= set(est)
    assert before.estimate.method == "cbpe" and "covariate shift" in before.estimate.assumption
    assert before.estimate.calibration.endswith("holdout rows")
    assert before.estimate.metric == trained_ws.config.metric
    realized = after.performance.metrics
    assert est["accuracy"] == pytest.approx(realized["accuracy"], abs=0.02)
    assert est["roc_auc"] == pytest.approx(realized["roc_auc"], abs=0.03)
    assert (cache / "v1.json").stat().st_mtime_ns == stamp  # fitted once per version
    record = read_history(trained_ws)[-1]
    assert record["estimated_performance"] == after.estimated_performance
    assert record["estimate"]["prediction_shift"]["shifted"] is False


def test_cli_drift_json_carries_estimated_performance(trained_ws):
    X = load_split(trained_ws).X_test
    log_predictions(trained_ws, X.iloc[:600])
    out = trained_ws.root / "drift.json"

    result = CliRunner().invoke(app, ["drift", "-w", str(trained_ws.root), "--json", str(out)])

    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["estimated_performance"]) >= {"accuracy", "roc_auc"}
    assert 0.5 < data["estimated_performance"]["roc_auc"] < 1
    assert "roc_auc (watched)" in flat(result.output)
    assert "covariate shift" in flat(result.output)
