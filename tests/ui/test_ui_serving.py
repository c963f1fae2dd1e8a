"""Serving page against a real `workbench serve` process: status, metrics, predictions, shadow."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from servers import api_server, free_port
from ui_helpers import FIRST_RUN_TIMEOUT, MAIN, app, page, texts
from workspaces import copy_workspace, set_training

from core.predictions import PredictionLog, PredictionRecord, read_predictions
from core.training.data import load_split
from core.workspace import Workspace

ADMIN = "admin-key"
KEY = "k"


def records(ws: Workspace, n: int) -> list[dict]:
    """Holdout feature records as JSON values (NaN as null), like the API tests send."""
    X = load_split(ws).X_test.head(n)
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in X.astype(object).to_dict(orient="records")
    ]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def served(trained_template, tmp_path_factory):
    """Champion v1 + challenger v2, every request shadowed, served by a real API process."""
    from core.training.train import train

    root = copy_workspace(trained_template, tmp_path_factory.mktemp("serving") / "ws")
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
                json={"records": records(ws, 4)},
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
def test_try_a_prediction_prefilled_from_the_workspace_answers_with_version_1(serving_env):
    at = page("serving")
    assert at.text_input(key="serving_field_distance").value  # prefilled from the features

    at.button(key="serving_predict").click()
    at.run()

    assert not at.exception
    answer = " ".join(texts(at.success))
    assert "answered by **flights-delay v1**" in answer and "variant `champion`" in answer
    assert "probability" in answer


@pytest.mark.slow
def test_an_invalid_value_shows_the_apis_4xx_message_naming_the_field(serving_env):
    at = page("serving")
    at.text_input(key="serving_field_distance").set_value("far")

    at.button(key="serving_predict").click()
    at.run()

    assert not at.exception
    assert texts(at.error) == [
        "The API rejected the record (422): records[0]: field 'distance' must be long, got str"
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
