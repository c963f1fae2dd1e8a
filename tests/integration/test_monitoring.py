"""Monitoring end to end on a trained demo workspace: the reference profile logged at
registration, windows of a real prediction log with delayed labels, performance drift,
alerts, the retrain trigger, the `workbench drift` CLI and the Prometheus gauges."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_output import flat, squeezed, wide_console
from monitoring_helpers import (
    edit_config,
    forget_artifact_repos,
    holdout,
    log_predictions,
    send_feedback,
    shifted_traffic,
)
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from app.cli import app
from core.monitoring.check import report_for, run_check
from core.monitoring.history import read_history
from core.monitoring.profiles import ARTIFACT_DIR, load_reference
from core.monitoring.trigger import pending_request, read_decisions, take_request
from core.registry import store
from core.training.data import load_split

pytestmark = pytest.mark.slow

DATE_PARTS = {"time_hour_month", "time_hour_dayofweek", "time_hour_hour", "time_hour_is_weekend"}
RAW_COLUMNS = {
    "carrier", "origin", "dest", "distance", "sched_dep_time", "sched_arr_time", "temp", "dewp",
    "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib", *DATE_PARTS,
}  # fmt: skip
"""The flights model's raw inputs minus `time_hour` (as its date parts) and `wind_gust` (the
model drops it)."""


@pytest.fixture(autouse=True)
def _forget_artifact_repos():
    forget_artifact_repos()
    yield
    forget_artifact_repos()


def test_registration_logs_the_reference_profile_with_the_version(trained_ws):
    client = store.registry_client(trained_ws)
    mv = store.get_version(client, trained_ws.config.model_name, "1")
    files = {a.path for a in client.list_artifacts(mv.run_id, ARTIFACT_DIR)}
    assert files == {
        f"{ARTIFACT_DIR}/reference_profile.json",
        f"{ARTIFACT_DIR}/reference_sample.parquet",
        f"{ARTIFACT_DIR}/attribution.json",  # the reference importance (attribution drift)
    }

    profile = load_reference(trained_ws)

    X, y = holdout(trained_ws)
    assert profile.rows == len(X)
    assert set(profile.columns) == RAW_COLUMNS  # what clients send, the timestamp as parts
    assert profile.derive["date_parts"] == [
        {"column": "time_hour", "parts": ["month", "dayofweek", "hour", "is_weekend"]}
    ]
    assert profile.source["model_version"] == "1"
    assert 0.5 < profile.performance["roc_auc"] <= 1.0
    assert profile.prediction.kind == "categorical" and profile.probability.kind == "numeric"
    assert {"prediction", "probability", "delayed"} <= set(profile.sample_frame().columns)


def test_a_version_without_a_logged_profile_gets_one_rebuilt(trained_ws):
    client = store.registry_client(trained_ws)
    run_id = store.get_version(client, trained_ws.config.model_name, "1").run_id
    logged = next(trained_ws.artifacts.rglob(f"{run_id}/artifacts/{ARTIFACT_DIR}"))
    for f in logged.iterdir():
        f.unlink()
    logged.rmdir()

    profile = load_reference(trained_ws)

    assert profile.source["rebuilt"] is True
    assert profile.performance["roc_auc"] > 0.5
    assert {a.path for a in client.list_artifacts(run_id, ARTIFACT_DIR)}  # logged for next time


def test_delayed_labels_joined_by_request_id_show_no_drift_on_reference_like_traffic(trained_ws):
    X, y = holdout(trained_ws)
    ids = log_predictions(trained_ws, X)
    half = len(ids) // 2
    send_feedback(trained_ws, ids[:half], y.iloc[:half])
    labels = trained_ws.root / "labels.csv"
    pd.DataFrame({"request_id": ids[half:], "actual": y.iloc[half:].to_numpy()}).to_csv(
        labels, index=False
    )

    result = run_check(trained_ws, "24h", labels=labels)

    assert len(result.window.frame) == len(X)
    assert result.drift.drifted == [] and not result.drift.dataset_drift
    perf = result.performance
    assert perf.labelled == len(X)
    model = store.load_model(trained_ws.config.model_name, "1")
    assert perf.value == pytest.approx(roc_auc_score(y, model.predict_proba(X)[:, 1]), abs=1e-9)
    # the baseline comes from the test rows only: a model refit on train + validation has
    # seen the validation rows, so its metric there would be in-sample
    split = load_split(trained_ws)
    test_auc = roc_auc_score(split.y_test, model.predict_proba(split.X_test)[:, 1])
    assert perf.baseline == pytest.approx(test_auc, abs=1e-9)
    assert not perf.drifted and result.alerts == []
    assert read_history(trained_ws)[-1]["id"] == result.id


def test_a_degraded_model_triggers_performance_drift_an_alert_and_a_retrain_request(trained_ws):
    ws = edit_config(
        trained_ws,
        monitoring={"alert_on": ["performance"], "retrain": {"triggers": ["performance"]}},
    )
    X, y = holdout(ws)
    ids = log_predictions(ws, X, degrade=True)
    send_feedback(ws, ids, y)

    result = run_check(ws)

    perf = result.performance
    assert perf.drifted and perf.drop > 0.05
    assert "performance" in result.fired  # inverted predictions also drift (not alerted here)
    (alert,) = result.alerts
    assert alert["kind"] == "monitoring.performance" and "roc_auc" in alert["message"]
    request = pending_request(ws)
    assert request["trigger"] == "performance" and request["check_id"] == result.id
    assert read_decisions(ws)[-1]["requested"] is True

    again = run_check(ws)  # the condition still holds: the same open incident, nothing new

    assert again.alerts[0]["repeat"]
    assert again.alerts[0]["delivery"]["suppressed"].startswith("incident open since")
    assert again.retrain[0]["requested"] is False
    assert take_request(ws, by="test")["id"] == request["id"]
    assert pending_request(ws) is None


def test_labels_not_arrived_yet_give_no_performance_verdict(trained_ws):
    X, _ = holdout(trained_ws)
    log_predictions(trained_ws, X.iloc[:200])

    result = run_check(trained_ws, "24h")

    assert result.performance is None
    assert result.window.labelled == 0


def test_a_window_excludes_older_predictions_and_a_tiny_window_is_skipped(trained_ws):
    X, _ = holdout(trained_ws)
    log_predictions(trained_ws, X.iloc[:300], hours_ago=30)
    log_predictions(trained_ws, X.iloc[300:310], hours_ago=1)

    assert len(run_check(trained_ws, "2d").window.frame) == 310
    assert len(run_check(trained_ws, "305").window.frame) == 305
    skipped = run_check(trained_ws, "24h")
    assert skipped.drift is None and "fewer than monitoring.min_rows" in skipped.skipped


def test_cli_drift_writes_the_json_summary_and_fails_on_drift_only_when_asked(trained_ws):
    shifted_traffic(trained_ws)
    out = trained_ws.root / "drift.json"
    runner = CliRunner()

    plain = runner.invoke(app, ["drift", "-w", str(trained_ws.root), "--json", str(out)])
    failing = runner.invoke(app, ["drift", "-w", str(trained_ws.root), "--fail-on-drift"])

    assert plain.exit_code == 0, plain.output
    assert "Dataset drift: YES" in flat(plain.output)
    data = json.loads(out.read_text())
    assert data["dataset_drift"] is True and data["share"] >= 0.5
    assert set(data["columns"]["temp"]) == {"method", "score", "threshold", "drifted", "psi"}
    assert data["columns"]["temp"]["drifted"] is True
    assert failing.exit_code == 1
    assert "drift found (dataset_drift" in flat(failing.output)


def test_cli_compares_two_files_and_names_bad_input(trained_ws, tmp_path):
    X, y = holdout(trained_ws)
    reference, current = tmp_path / "reference.parquet", tmp_path / "current.csv"
    X.iloc[: len(X) // 2].to_parquet(reference)
    X.iloc[len(X) // 2 :].drop(columns=["temp", "carrier"]).to_csv(current, index=False)
    good = tmp_path / "good.csv"
    X.iloc[len(X) // 2 :].to_csv(good, index=False)
    runner = CliRunner()
    root = str(trained_ws.root)

    same = runner.invoke(
        app, ["drift", "-w", root, "--reference", str(reference), "--current", str(good)]
    )
    mismatch = runner.invoke(
        app, ["drift", "-w", root, "--reference", str(reference), "--current", str(current)]
    )
    missing = runner.invoke(app, ["drift", "-w", root, "--reference", str(tmp_path / "no.csv")])
    bad_window = runner.invoke(app, ["drift", "-w", root, "--window", "3 weeks"])

    assert same.exit_code == 0, same.output
    assert "file good.csv" in flat(same.output)
    assert mismatch.exit_code == 1
    assert "current.csv" in squeezed(mismatch.output)  # the end of a path: maybe cut by rich
    assert "carrier, temp" in flat(mismatch.output)
    assert missing.exit_code == 1
    assert squeezed("no.csv: no such reference file") in squeezed(missing.output)
    assert bad_window.exit_code == 1 and "window '3 weeks' is not valid" in flat(bad_window.output)
    assert "Traceback" not in mismatch.output + missing.output + bad_window.output


def test_cli_report_writes_the_evidently_html(trained_ws):
    shifted_traffic(trained_ws, rows=300)

    result = CliRunner().invoke(app, ["drift", "-w", str(trained_ws.root), "--report"])

    assert result.exit_code == 0, result.output
    (html,) = (trained_ws.reports / "drift").glob("*/report.html")
    text = html.read_text()
    assert text.lstrip().startswith("<!DOCTYPE html>") and "Data Drift" in text
    assert '"temp"' in text or "temp" in text
    assert read_history(trained_ws)[-1]["report"] == str(html.relative_to(trained_ws.root))


def test_latest_check_numbers_are_exported_as_prometheus_gauges(trained_ws):
    from prometheus_client import CollectorRegistry, generate_latest

    from core.monitoring import latest_gauges
    from core.monitoring.prometheus import MonitoringCollector

    assert latest_gauges(trained_ws) == {}
    X, y = holdout(trained_ws)
    send_feedback(trained_ws, log_predictions(trained_ws, X), y)
    result = run_check(trained_ws)

    gauges = latest_gauges(trained_ws)
    method = result.drift.columns["temp"].method
    temp = gauges["workbench_drift_score"][(("column", "temp"), ("method", method))]
    assert temp == pytest.approx(result.drift.columns["temp"].score)
    assert gauges["workbench_performance"][(("metric", "roc_auc"),)] == pytest.approx(
        result.performance.value
    )
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(trained_ws))
    text = generate_latest(registry).decode()
    assert f'workbench_drift_score{{column="temp",method="{method}"}}' in text
    assert "workbench_drift_share " in text
    assert np.isfinite(gauges["workbench_drift_check_timestamp_seconds"][()])

    from litestar.testing import TestClient

    from api.app import create_app
    from api.settings import ServeSettings

    settings = ServeSettings.from_workspace(trained_ws, predictions_dir=None, poll_seconds=60)
    with TestClient(create_app(settings)) as client:  # the API exports them at /metrics
        served = client.get("/metrics").text
    assert f'workbench_drift_score{{column="temp",method="{method}"}}' in served
    assert "workbench_predict_latency_seconds_bucket" in served


def test_a_labelled_window_also_gets_the_evidently_performance_report(trained_ws):
    X, y = holdout(trained_ws)
    ids = log_predictions(trained_ws, X.iloc[:300], degrade=True)
    send_feedback(trained_ws, ids, y.iloc[:300])

    result = CliRunner().invoke(app, ["drift", "-w", str(trained_ws.root), "--report"])

    assert result.exit_code == 0, result.output
    record = read_history(trained_ws)[-1]
    assert record["performance"]["drifted"]  # inverted predictions
    path = trained_ws.root / record["performance_report"]
    said = squeezed(result.output)  # the report's path may be cut by rich at the width
    assert squeezed(f"performance report: {record['performance_report']}") in said
    text = path.read_text()
    assert text.lstrip().startswith("<!DOCTYPE html>")
    assert "Accuracy" in text and "ROC AUC" in text  # the binary preset, with probabilities
    assert (path.parent / "report.html").is_file()  # and the drift report next to it


def test_a_window_without_labels_has_no_performance_report(trained_ws):
    shifted_traffic(trained_ws, rows=300)
    result = run_check(trained_ws, report=True)
    assert result.report and result.performance_report is None and not result.report_error


def test_a_labels_file_is_imported_once_and_feeds_later_checks(trained_ws, tmp_path):
    X, y = holdout(trained_ws)
    ids = log_predictions(trained_ws, X.iloc[:300])
    labels = tmp_path / "labels.csv"
    unknown = [f"not-logged-{i}" for i in range(10)]
    actuals = [*y.iloc[:300].to_numpy(), *[1] * 10]
    pd.DataFrame({"request_id": ids + unknown, "actual": actuals}).to_csv(labels, index=False)
    runner, root = CliRunner(), str(trained_ws.root)

    first = runner.invoke(app, ["labels", str(labels), "-w", root])
    again = runner.invoke(app, ["labels", str(labels), "-w", root])

    assert first.exit_code == 0, first.output
    said = flat(first.output)
    assert "imported 310 of 310 label(s)" in said
    assert "300 match logged predictions" in said and "10 have no logged prediction" in said
    assert again.exit_code == 0 and "imported 0 of 310" in flat(again.output)
    assert "310 were already recorded" in flat(again.output)
    result = run_check(trained_ws, "24h")  # no --labels: they are in the feedback log now
    assert result.performance.labelled == 300
    assert result.performance.value == pytest.approx(
        log_window_metric(trained_ws, X.iloc[:300], y.iloc[:300], result.performance.metric)
    )


def log_window_metric(ws, X, y, metric):
    """The metric of the champion on these rows, computed independently of the check."""
    from core.training.metrics import compute_metrics

    model = store.load_model(ws.config.model_name, "1")
    proba = model.predict_proba(X)[:, 1]
    return compute_metrics("classification", y.to_numpy(), model.predict(X), proba)[metric]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("request_id,label\na,1\n", "labels file lacks column(s) actual"),
        ("request_id,actual\na,1\nb,\nc,0\n", "column 'actual' is empty in data row(s) 2"),
        ("request_id,actual,time\na,1,yesterday\n", "column 'time' is not an ISO time"),
    ],
)
def test_a_bad_labels_file_is_refused_naming_the_file_and_column(
    trained_ws, tmp_path, content, message
):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = CliRunner().invoke(app, ["labels", str(path), "-w", str(trained_ws.root)])
    assert result.exit_code == 1
    assert squeezed(str(path)) in squeezed(result.output) and message in flat(result.output)
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(
        app, ["labels", str(tmp_path / "no.csv"), "-w", str(trained_ws.root)]
    )
    assert missing.exit_code != 0


def test_the_reports_of_an_earlier_check_are_written_on_demand(trained_ws):
    X, y = holdout(trained_ws)
    ids = log_predictions(trained_ws, X.iloc[:300], hours_ago=3)
    send_feedback(trained_ws, ids, y.iloc[:300])
    checked = run_check(trained_ws, "24h")  # no report then
    folder = trained_ws.reports / "drift" / checked.id
    assert not folder.exists()
    shifted_traffic(trained_ws, rows=300)  # an hour ago: after the rows of that check
    runner, root = CliRunner(), str(trained_ws.root)

    with wide_console():  # a table: its cells are cut to fit a narrow width
        listed = runner.invoke(app, ["drift-report", "-w", root])
    written = runner.invoke(app, ["drift-report", checked.id, "-w", root])
    unknown = runner.invoke(app, ["drift-report", "nope", "-w", root])

    assert listed.exit_code == 0 and checked.id in listed.output
    assert written.exit_code == 0, written.output
    assert (folder / "report.html").is_file() and (folder / "performance.html").is_file()
    said = squeezed(written.output)  # the report's path may be cut by rich at the width
    assert squeezed(f"report: reports/drift/{checked.id}/report.html") in said
    again = report_for(trained_ws, checked.id)  # the same 300 rows as the check saw
    assert len(again.window.frame) == 300
    assert again.drift.share == checked.drift.share
    assert unknown.exit_code == 1 and "no check 'nope'" in flat(unknown.output)


def test_the_reference_columns_are_the_signature_inputs_with_the_timestamp_as_parts(trained_ws):
    import mlflow

    store.registry_client(trained_ws)
    name = trained_ws.config.model_name
    signature = mlflow.models.get_model_info(f"models:/{name}/1").signature
    inputs = set(signature.inputs.input_names())

    profile = load_reference(trained_ws)

    assert "time_hour" in inputs and "wind_gust" in inputs
    assert set(profile.columns) == (inputs - {"time_hour", "wind_gust"}) | DATE_PARTS
    assert profile.prediction is not None and profile.probability is not None
    sample = profile.sample_frame()
    assert set(sample.columns) >= DATE_PARTS and "time_hour" not in sample.columns
    X, _ = holdout(trained_ws)  # the parts are the model's own (its FeatureBuilder's)
    front = store.load_model(name, "1")[:2].transform(X)
    for part in DATE_PARTS:
        assert profile.columns[part].value_map() == {
            float(v): int(n) for v, n in front[part].value_counts().items()
        }


def test_a_raw_column_shift_is_caught_from_raw_logged_records(trained_ws):
    from core.predictions.readers import prediction_log_source, read_predictions

    X, _ = holdout(trained_ws)
    log_predictions(trained_ws, X.assign(temp=X["temp"] + 30))

    result = run_check(trained_ws, "24h")

    logged = json.loads(read_predictions(prediction_log_source(trained_ws))["inputs_json"][0])
    assert logged["time_hour"] == X["time_hour"].iloc[0].isoformat()  # ISO, as a client sends
    assert result.drift.drifted == ["temp"]  # the same rows otherwise: nothing else moved
    assert set(result.drift.columns) == RAW_COLUMNS - {"time_hour_month"}  # excluded by config
    assert result.drift.columns["time_hour_hour"].checked
    hours = result.window.frame["time_hour_hour"].to_numpy()  # parsed from the ISO strings
    assert (hours == X["time_hour"].dt.hour.to_numpy(dtype=float)).all()


def test_engineered_columns_are_watched_when_configured(trained_ws):
    from core.monitoring.drift import check_drift
    from core.monitoring.profiles import reference_from_version
    from core.monitoring.window import log_window

    ws = edit_config(trained_ws, monitoring={"drift": {"engineered": True}})
    store.registry_client(ws)  # points MLflow's `models:/` resolution at this workspace
    model = store.load_model(ws.config.model_name, "1")
    X, _ = holdout(ws)

    profile = reference_from_version(ws, None, model)

    assert set(profile.columns) == RAW_COLUMNS | {"dewpoint_spread", "distance_bin"}
    front = model[:2].transform(X)  # the values the model computes from the same records
    assert profile.columns["dewpoint_spread"].mean == pytest.approx(front["dewpoint_spread"].mean())
    assert profile.columns["distance_bin"].value_map() == {
        float(v): int(n) for v, n in front["distance_bin"].value_counts().items()
    }
    log_predictions(ws, X.assign(dewp=X["dewp"] - 15))
    window = log_window(ws, "24h")
    result = check_drift(profile, profile.prepare(window.frame), ws.config.monitoring.drift)
    assert {"dewp", "dewpoint_spread"} <= set(result.drifted)
    assert "temp" not in result.drifted and "distance_bin" not in result.drifted


def test_a_model_that_took_engineered_records_keeps_its_profile_and_windows(trained_ws):
    """Versions registered before the raw-record boundary: an engineered profile (format 1, no
    `derive`) and a log of engineered records are checked as before, and a missing profile of
    such a model is rebuilt from its data version's features table."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from core.data.preprocess import build_transformer, split_columns
    from core.monitoring.profiles import _cache_dir, _features_split, reference_from_version
    from core.monitoring.reference import build_profile

    cfg = trained_ws.config
    split = _features_split(trained_ws, None)
    assert {"dewpoint_spread", "time_hour_hour"} <= set(split.X_train.columns)
    assert "time_hour" not in split.X_train.columns
    numeric, categorical = split_columns(split.X_train)
    legacy = Pipeline(
        [
            ("preprocess", build_transformer(numeric, categorical, cfg.preprocessing)),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(split.X_train, split.y_train)

    rebuilt = reference_from_version(trained_ws, None, legacy)

    assert rebuilt.derive is None
    assert set(rebuilt.columns) == set(split.X_train.columns)
    assert rebuilt.performance["roc_auc"] > 0.5
    # an old profile as it was saved (no `derive` key), installed as version 1's
    X = pd.concat([split.X_val, split.X_test])
    old = build_profile(X, list(X.columns), cfg.monitoring.reference, task=cfg.task)
    cache = _cache_dir(trained_ws, cfg.model_name, "1")
    old.save(cache)
    data = json.loads((cache / "reference_profile.json").read_text())
    data.pop("derive")
    data["format"] = 1
    (cache / "reference_profile.json").write_text(json.dumps(data))
    log_predictions(trained_ws, X, model=legacy)

    result = run_check(trained_ws, "24h")

    assert load_reference(trained_ws).derive is None
    assert set(result.drift.columns) == set(X.columns) - {"time_hour_month"}
    assert result.drift.drifted == []
