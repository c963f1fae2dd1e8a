"""Drift page: check history, verdicts, distributions, performance, report, alerts, retrain."""

from __future__ import annotations

from pathlib import Path

import pytest
from monitoring_helpers import (
    edit_config,
    forget_artifact_repos,
    holdout,
    log_predictions,
    send_feedback,
    shifted,
)
from ui_helpers import page, texts
from workspaces import copy_workspace

from core.jobs import JobsDB
from core.monitoring.check import run_check
from core.monitoring.history import read_history
from core.monitoring.trigger import pending_request, read_decisions
from core.registry.promotion import default_actor
from core.workspace import Workspace

pytestmark = pytest.mark.slow
ACTION_TIMEOUT = 90  # a check reads the log, loads the reference, maybe writes the report


@pytest.fixture(scope="module")
def drift_template(trained_template, tmp_path_factory) -> Path:
    """The trained demo with a prediction log, labels, and two checks (one with a report)."""
    forget_artifact_repos()
    root = copy_workspace(trained_template, tmp_path_factory.mktemp("drift") / "ws")
    ws = edit_config(Workspace.open(root), monitoring={"min_rows": 10})
    X, y = holdout(ws)
    ids = log_predictions(ws, X.iloc[:300], hours_ago=3)
    send_feedback(ws, ids, y.iloc[:300])
    run_check(ws, "24h", report=True)
    log_predictions(ws, shifted(X.iloc[300:600]), hours_ago=1)
    run_check(ws, "90m")
    forget_artifact_repos()
    return root


@pytest.fixture
def drift_ws(drift_template, tmp_path, monkeypatch) -> Workspace:
    forget_artifact_repos()
    root = copy_workspace(drift_template, tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    yield Workspace.open(root)
    forget_artifact_repos()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_drift_page_shows_the_latest_check_history_and_column_verdicts(drift_ws):
    at = page("drift")

    assert not at.exception
    assert texts(at.title) == ["Drift"]
    latest = read_history(drift_ws)[-1]
    shown = metrics(at)
    assert shown["Dataset drift"] == "yes"
    assert shown["Drifted share"] == f"{latest['drift']['share']:.0%}"
    assert shown["Rows in window"] == f"{latest['rows']:,}"
    assert {
        "Drift over time",
        "Columns of a check",
        "Reference vs current",
        "Performance over time",
        "Evidently report",
        "Alerts",
        "Retraining",
    } <= set(texts(at.subheader))
    verdicts = next(d.value for d in at.dataframe if "method" in d.value.columns)
    assert set(verdicts.columns) >= {"column", "method", "score", "threshold", "PSI", "status"}
    assert "temp" in set(verdicts.loc[verdicts["status"] == "fail", "column"])
    assert len(at.get("plotly_chart")) >= 4  # share, heatmap, overlay, performance
    assert at.selectbox(key="drift_feature").options[0]


def test_alerts_and_the_evidently_report_are_listed(drift_ws):
    at = page("drift")

    assert not at.exception
    assert len(at.selectbox(key="drift_report").options) == 2  # newest first
    assert at.button(key="drift_report_write")  # the newest check wrote no report
    at.selectbox(key="drift_report").set_value(1).run()  # the first check wrote both
    kinds = at.radio(key="drift_report_kind")
    assert kinds.options == ["Data drift", "Model performance (labelled predictions)"]
    kinds.set_value("Model performance (labelled predictions)").run()
    assert not at.exception
    alerts = next(d.value for d in at.dataframe if "delivery" in d.value.columns)
    assert alerts["kind"].str.startswith("monitoring.").any()


def test_run_check_now_adds_a_check_to_the_history(drift_ws):
    before = len(read_history(drift_ws))
    at = page("drift")
    at.text_input(key="drift_window").input("2d")

    at.button(key="drift_run").click().run(timeout=ACTION_TIMEOUT)

    assert not at.exception
    assert len(read_history(drift_ws)) == before + 1
    assert any("Checked last 2d of the prediction log" in t for t in texts(at.success))


def test_retrain_now_queues_a_training_on_the_live_scheduler_with_the_reason(drift_ws):
    db = JobsDB.for_workspace(drift_ws)
    assert db.acquire("host:1:leader", 60)  # a live scheduler's lease: commands go to it
    at = page("drift")
    at.text_input(key="drift_retrain_reason").input("July weather")

    at.button(key="drift_retrain").click().run(timeout=ACTION_TIMEOUT)

    assert not at.exception
    [command] = db.take_commands("host:1:leader")
    assert (command["job"], command["action"]) == ("training_pipeline", "run")
    assert command["params"] == {"force": False, "reason": "July weather", "by": default_actor()}
    assert any("training queued on the running scheduler" in t for t in texts(at.success))
    decision = read_decisions(drift_ws)[-1]
    assert (decision["reason"], decision["via"]) == ("July weather", "scheduler")
    assert pending_request(drift_ws) is None  # started now, not left for the 04:00 run


def test_a_bad_window_is_one_line_not_a_traceback(drift_ws):
    at = page("drift")
    at.text_input(key="drift_window").input("3 weeks")

    at.button(key="drift_run").click().run(timeout=ACTION_TIMEOUT)

    assert not at.exception
    assert any("window '3 weeks' is not valid" in t for t in texts(at.error))


def test_without_checks_the_page_says_how_to_run_one(trained_template, tmp_path, monkeypatch):
    forget_artifact_repos()
    root = copy_workspace(trained_template, tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    at = page("drift")

    assert not at.exception
    assert any("No drift check yet" in t for t in texts(at.info))
    assert any("No predictions in the last 24h" in t for t in texts(at.info))


def test_missing_workspace_shows_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "nowhere"))

    at = page("drift")

    assert not at.exception
    assert "not a workbench workspace" in at.error[0].value


def test_a_check_without_a_report_gets_one_on_demand(drift_ws):
    at = page("drift")
    newest = read_history(drift_ws)[-1]["id"]

    at.button(key="drift_report_write").click().run(timeout=ACTION_TIMEOUT)

    assert not at.exception and not at.error
    assert (drift_ws.reports / "drift" / newest / "report.html").is_file()
    assert at.radio(key="drift_report_kind").options[0] == "Data drift"
