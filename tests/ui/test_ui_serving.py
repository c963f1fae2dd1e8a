"""Serving page against a real `workbench serve` process: status, metrics, predictions, shadow."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from servers import api_server, free_port
from ui_helpers import FIRST_RUN_TIMEOUT, MAIN, PAGES, app, page, texts
from workspaces import LENIENT_GATES, copy_workspace, set_gates, set_training

from app.auth import SESSION_KEY, hash_password
from core.predictions.readers import read_predictions
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.serving.records import json_records
from core.training.data import load_split
from core.workspace import Workspace

ADMIN = "admin-key"
KEY = "k"


def records(url: str, ws: Workspace, n: int) -> list[dict]:
    """Raw holdout records (the served model's inputs, JSON values), as every client sends."""
    fields = [
        (f["name"], f["type"]) for f in httpx.get(f"{url}/model", timeout=10).json()["inputs"]
    ]
    return json_records(load_split(ws).X_test.head(n), fields)


def latest_processed_row(ws: Workspace) -> pd.Series:
    """The row the prediction form is prefilled with."""
    frame = pd.read_parquet(ws.processed_file)
    return frame.sort_values(ws.config.time_column, kind="stable").iloc[-1]


def champion_probability(ws: Workspace, record: dict) -> float:
    """What the registered champion itself says about one raw record."""
    import mlflow

    mlflow.set_tracking_uri(ws.tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/{ws.config.model_name}@champion")
    return float(model.predict_proba(pd.DataFrame([record]))[0, 1])


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def served(trained_template, tmp_path_factory):
    """Champion v1 + challenger v2, every request shadowed, served by a real API process."""
    from core.training.train import train

    root = copy_workspace(trained_template, tmp_path_factory.mktemp("serving") / "ws")
    set_gates(root, LENIENT_GATES)  # only a gate-passing version becomes the challenger
    train(set_training(root, candidates=["naive_bayes"]))
    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["serving"] = {**cfg.get("serving", {}), "shadow_fraction": 1.0}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with api_server(root, WORKBENCH_API_KEYS=KEY, WORKBENCH_ADMIN_KEY=ADMIN) as (url, _):
        ws = Workspace.open(root)
        for _ in range(3):
            resp = httpx.post(
                f"{url}/predict",
                json={"records": records(url, ws, 4)},
                headers={"X-API-Key": KEY},
                timeout=30,
            )
            assert resp.status_code == 200, resp.text
        yield url, ws


@pytest.fixture
def serving_env(served, monkeypatch):
    """The UI pointed at the served workspace and its API."""
    url, ws = served
    monkeypatch.setenv("WORKBENCH_HOME", str(ws.root))
    monkeypatch.setenv("WORKBENCH_API_URL", url)
    monkeypatch.setenv("WORKBENCH_ADMIN_KEY", ADMIN)
    for var in ("MLFLOW_TRACKING_URI", "WORKBENCH_TRACKING_URI", "WORKBENCH_API_KEYS"):
        monkeypatch.delenv(var, raising=False)
    return url, ws


@pytest.fixture
def api_down(ui_ws_copy, monkeypatch) -> Path:
    """A workspace whose API address has nothing listening."""
    monkeypatch.setenv("WORKBENCH_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("WORKBENCH_ADMIN_KEY", raising=False)
    return ui_ws_copy


@pytest.mark.slow
def test_status_shows_ready_champion_v1_and_the_shadow_challenger(serving_env):
    at = page("serving")

    assert not at.exception
    assert texts(at.title) == ["Serving"]
    assert metric(at, "Status") == "ready"
    assert metric(at, "Model version") == "v1"
    assert metric(at, "Alias") == "champion"
    assert metric(at, "Challenger") == "v2"
    assert any("flights-delay" in t and "v1" in t for t in texts(at.caption))

    at.button(key="serving_reload").click()  # with the admin key
    at.run()

    assert not at.exception
    assert "Registry checked: serving v1 (unchanged)." in texts(at.success)


@pytest.mark.slow
def test_metrics_summary_counts_requests_with_latency_percentiles_and_variant_split(serving_env):
    at = page("serving")
    for _ in range(2):  # three scrapes: a rate and a trend
        at.button(key="serving_refresh").click()
        at.run()

    assert not at.exception
    assert float(metric(at, "Predict requests").replace(",", "")) >= 3
    assert float(metric(at, "Predicted records").replace(",", "")) >= 12
    for name in ("p50", "p95", "p99"):
        assert metric(at, f"{name} latency").endswith(" ms")
    assert metric(at, "Requests/s") != "-"  # two scrapes make a rate
    split = next(d.value for d in at.dataframe if "variant" in d.value.columns)
    assert {("1", "champion"), ("2", "shadow")} <= set(
        zip(split.version, split.variant, strict=True)
    )
    assert len(at.get("plotly_chart")) >= 4  # split, latency, history, requests


@pytest.mark.slow
def test_try_a_prediction_is_a_raw_record_prefilled_from_the_processed_table(serving_env):
    _, ws = serving_env
    row = latest_processed_row(ws)
    at = page("serving")

    # raw fields with typed inputs, prefilled from the latest processed row (not features)
    stamp = at.datetime_input(key="serving_field_time_hour")
    assert stamp.label == "time_hour (UTC)"
    assert stamp.value == row["time_hour"].tz_convert("UTC").to_pydatetime().replace(tzinfo=None)
    assert at.number_input(key="serving_field_distance").value == row["distance"]
    assert at.number_input(key="serving_field_sched_dep_time").value == row["sched_dep_time"]
    assert at.selectbox(key="serving_field_carrier").value == row["carrier"]
    assert row["carrier"] in at.selectbox(key="serving_field_carrier").options
    gust = None if pd.isna(row["wind_gust"]) else row["wind_gust"]
    assert at.number_input(key="serving_field_wind_gust").value == gust  # missing stays missing
    assert not [w for w in at.text_input if w.key.startswith("serving_field_")]
    assert not any("time_hour_" in w.label or "distance_bin" in w.label for w in at.number_input)

    at.button(key="serving_predict").click()
    at.run()

    assert not at.exception and not at.error
    answer = " ".join(texts(at.success))
    assert "answered by **flights-delay v1**" in answer and "variant `champion`" in answer
    served = float(re.search(r"probability (\d\.\d+)", answer).group(1))
    raw = {k: (None if pd.isna(v) else v) for k, v in row.drop(ws.config.target).items()}
    assert served == pytest.approx(champion_probability(ws, raw), abs=6e-4)


@pytest.mark.slow
def test_a_test_prediction_needs_the_operator_role_when_authentication_is_on(serving_env):
    users = {
        f"{role}-user": {"password_hash": hash_password(role), "roles": [role]}
        for role in ("viewer", "operator")
    }
    buttons = {}
    for role in ("viewer", "operator"):
        at = app(PAGES / "serving.py")
        at.secrets["workbench_users"] = users
        at.session_state[SESSION_KEY] = f"{role}-user"
        at.run(timeout=FIRST_RUN_TIMEOUT)
        assert not at.exception
        buttons[role] = at.button(key="serving_predict")

    assert buttons["viewer"].disabled  # a test prediction lands in the prediction log
    assert buttons["viewer"].help == "Needs the operator role (viewer-user holds: viewer)."
    assert not buttons["operator"].disabled


@pytest.mark.slow
def test_an_edited_record_is_sent_as_typed_utc_timestamp_and_missing_values(serving_env):
    _, ws = serving_env
    at = page("serving")
    carrier = at.selectbox(key="serving_field_carrier")
    other = next(c for c in carrier.options if c != carrier.value)
    at.datetime_input(key="serving_field_time_hour").set_value(datetime(2013, 1, 3, 23, 0))
    carrier.set_value(other)
    at.multiselect(key="serving_missing").set_value(["temp"])  # sent as null: imputed
    at.number_input(key="serving_field_visib").set_value(1.0)

    at.button(key="serving_predict").click()
    at.run()

    assert not at.exception and not at.error
    answer = " ".join(texts(at.success))
    request_id = re.search(r"Request id `([^`]+)`", " ".join(texts(at.caption))).group(1)
    deadline = time.time() + 30  # the log is flushed every 2 s
    logged = pd.DataFrame()
    while time.time() < deadline and logged.empty:
        log = read_predictions(ws.predictions_dir)
        logged = log[(log["request_id"] == request_id) & (log["variant"] == "champion")]
        time.sleep(0.5)
    inputs = json.loads(logged.iloc[0]["inputs_json"])
    assert inputs["time_hour"] == "2013-01-03T23:00:00+00:00"
    assert inputs["carrier"] == other and inputs["temp"] is None and inputs["visib"] == 1.0
    served = float(re.search(r"probability (\d\.\d+)", answer).group(1))
    assert served == pytest.approx(champion_probability(ws, inputs), abs=6e-4)


@pytest.mark.slow
def test_an_invalid_value_shows_the_apis_4xx_message_naming_the_field(serving_env):
    at = page("serving")
    at.number_input(key="serving_field_pressure").set_value(1e300)

    at.button(key="serving_predict").click()
    at.run()

    assert not at.exception
    assert texts(at.error) == [
        "The API rejected the record (422): records[0]: field 'pressure' is out of range: "
        "|value| must be at most 2^53 (9007199254740992)"
    ]


@pytest.mark.slow
def test_agreement_is_computed_from_the_shadow_rows_the_server_logged(serving_env):
    _, ws = serving_env
    deadline = time.time() + 30  # the log is flushed every 2 s
    while time.time() < deadline:
        log = read_predictions(ws.predictions_dir)
        if (log["variant"] == "shadow").sum() >= 12:
            break
        time.sleep(0.5)
    at = page("serving")

    assert not at.exception
    assert int(metric(at, "Shadowed records").replace(",", "")) >= 12
    assert metric(at, "Agreement").endswith("%")
    summary = next(d.value for d in at.dataframe if "shadow_version" in d.value.columns)
    assert summary[["served_version", "shadow_version"]].values.tolist() == [["1", "2"]]


@pytest.mark.parametrize("log_at", ["parquet", "sqlite"])
def test_api_down_shows_how_to_start_it_and_the_rest_of_the_page_works(
    api_down, log_at, monkeypatch
):
    destination = api_down / "predictions"
    if log_at == "sqlite":  # the log in a database (`serving.prediction_log_url`)
        destination = f"sqlite:///{api_down / 'log.db'}"
        monkeypatch.setenv("WORKBENCH_PREDICTION_LOG_URL", destination)
    with PredictionLog(destination) as log:
        log.append(
            [
                PredictionRecord("r1", "2024-05-01T10:00:00+00:00", "m", v, variant, {}, p, q)
                for v, variant, p, q in (("1", "champion", 1, 0.8), ("2", "shadow", 0, 0.4))
            ]
        )

    at = page("serving")

    assert not at.exception
    assert any("not reachable" in t and "workbench serve" in t for t in texts(at.info))
    assert "Needs the running API (see the status above)." in texts(at.caption)
    assert at.number_input(key="serving_canary").value == 0.0
    assert metric(at, "Shadowed records") == "1"
    assert metric(at, "Agreement") == "0.0%"
    assert metric(at, "Mean |Δ probability|") == "0.400"


def test_settings_save_into_workbench_yaml_keeping_other_keys_and_comments(api_down):
    path = api_down / "workbench.yaml"
    before = yaml.safe_load(path.read_text())
    at = page("serving")
    at.number_input(key="serving_canary").set_value(0.2)
    at.number_input(key="serving_shadow").set_value(0.5)

    at.button(key="serving_save").click()
    at.run()

    assert not at.exception
    assert any("Restart the API" in t for t in texts(at.success))
    after = yaml.safe_load(path.read_text())
    assert after["serving"] == {**before["serving"], "canary_fraction": 0.2, "shadow_fraction": 0.5}
    assert {k: v for k, v in after.items() if k != "serving"} == {
        k: v for k, v in before.items() if k != "serving"
    }
    assert "# share of requests answered by the challenger" in path.read_text()


def test_an_out_of_range_fraction_is_an_error_and_the_file_is_unchanged(api_down):
    path = api_down / "workbench.yaml"
    before = path.read_text()
    at = page("serving")
    at.number_input(key="serving_canary").set_value(1.5)

    at.button(key="serving_save").click()
    at.run()

    assert not at.exception
    assert len(at.error) == 1
    assert "serving.canary_fraction" in at.error[0].value and "1" in at.error[0].value
    assert path.read_text() == before


def test_navigation_reaches_the_serving_page(api_down):
    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)

    at.switch_page("../pages/serving.py").run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert texts(at.title) == ["Serving"]
