"""Attribution drift on a trained demo workspace: the champion's importance ranking on a window
of the prediction log against its holdout's (nDCG), in the check, the CLI and the retrain
decision's evidence."""

from __future__ import annotations

import json

import pytest
from cli_output import flat
from monitoring_helpers import edit_config, forget_artifact_repos, holdout, log_predictions
from typer.testing import CliRunner

from app.cli import app
from core.monitoring.attribution import FILE, reference_order
from core.monitoring.check import run_check
from core.monitoring.history import read_history
from core.monitoring.profiles import load_reference, reference_dir
from core.monitoring.trigger import pending_request, read_decisions

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _forget_artifact_repos():
    forget_artifact_repos()
    yield
    forget_artifact_repos()


def test_a_window_of_the_reference_rows_ranks_the_fields_as_the_reference_does(trained_ws):
    X, _ = holdout(trained_ws)  # the rows the reference importance was measured on
    log_predictions(trained_ws, X)
    out = trained_ws.root / "drift.json"

    result = CliRunner().invoke(
        app, ["drift", "-w", str(trained_ws.root), "--window", "all", "--json", str(out)]
    )

    assert result.exit_code == 0, result.output
    found = json.loads(out.read_text())["attribution_drift"]
    assert found["ndcg"] == pytest.approx(1.0, abs=1e-9)
    assert found["drifted"] is False and found["threshold"] == 0.9
    assert found["method"] in {"linear", "treeshap"}  # the demo's champion has exact ones
    assert set(found["reference_importance"]) == set(X.columns)
    assert found["rows"] == found["reference_rows"] == len(X)
    assert "attribution: importance ranking nDCG 1.000 >= 0.90" in flat(result.output)
    cached = reference_dir(trained_ws, trained_ws.config.model_name, "1") / FILE
    assert cached.is_file()  # logged with the profile at registration, not recomputed
    assert read_history(trained_ws)[-1]["attribution_drift"]["ndcg"] == found["ndcg"]


def test_a_window_where_the_model_leans_on_other_fields_drifts_and_asks_for_retraining(
    trained_ws,
):
    ws = edit_config(
        trained_ws,
        monitoring={"retrain": {"triggers": ["attribution_drift"], "consecutive_checks": 1}},
    )
    X, _ = holdout(ws)
    load_reference(ws)  # the champion's profile folder, with its reference importance
    cached = reference_dir(ws, ws.config.model_name, "1") / FILE
    top = reference_order(json.loads(cached.read_text())["values"])
    frozen = X.copy()
    for field in top[:2]:  # the two fields the model leaned on most stop varying
        frozen[field] = X[field].mode().iloc[0]
    log_predictions(ws, frozen)

    result = run_check(ws, "all")

    found = result.attribution
    assert found.drifted and found.ndcg < 0.9
    assert all(found.current[f] < found.reference[f] / 10 for f in top[:2])
    assert "attribution_drift" in result.fired
    [decision] = result.retrain
    assert decision["requested"] and decision["trigger"] == "attribution_drift"
    assert "importance ranking nDCG" in decision["reason"]
    recorded = read_decisions(ws)[-1]
    assert recorded["attribution"]["ndcg"] == pytest.approx(found.ndcg, abs=1e-6)
    assert recorded["attribution"]["drifted"] is True
    assert pending_request(ws)["trigger"] == "attribution_drift"
