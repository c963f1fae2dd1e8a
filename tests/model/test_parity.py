"""Train/serve parity: a raw record, exactly as the landing file has it, scores the same everywhere.

The peers are the ones a user compares against: the real `workbench serve` process (records and
columnar), `mlflow.sklearn` and `mlflow.pyfunc` on the raw DataFrame, and `mlflow models serve`
on the same registered model.
"""

from __future__ import annotations

import json

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from servers import api_server, mlflow_models_serve
from workspaces import copy_workspace, set_training

from core.data.pipeline import run_pipeline
from core.data.readers import read_table
from core.training.train import train
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

pytestmark = pytest.mark.slow
KEY = "parity-key"


def held_back_day(ws: Workspace) -> pd.DataFrame:
    """The first held-back day, as the source has it, without the target."""
    path = sorted((ws.root / ".demo" / "holdback").iterdir())[0]
    return read_table(path).drop(columns=ws.config.target)


def as_json_records(frame: pd.DataFrame) -> list[dict]:
    """What a client sends: JSON values (null for missing, timestamps as ISO-8601 strings)."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s"))


def _predict(url: str, body: dict) -> dict:
    resp = httpx.post(f"{url}/predict", json=body, headers={"X-API-Key": KEY}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _api_answers(ws: Workspace, records: list[dict]) -> tuple[dict, dict, dict]:
    columns = list(records[0])
    with api_server(ws.root, WORKBENCH_API_KEYS=KEY) as (url, _):
        info = httpx.get(f"{url}/model", headers={"X-API-Key": KEY}, timeout=30).json()
        by_records = _predict(url, {"records": records})
        by_rows = _predict(url, {"columns": columns, "rows": [list(r.values()) for r in records]})
    return info, by_records, by_rows


def _mlflow_serve(ws: Workspace, records: list[dict]) -> list:
    """`mlflow models serve` on the champion, answering the same records."""
    with mlflow_models_serve(ws) as url:
        resp = httpx.post(f"{url}/invocations", json={"dataframe_records": records}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()["predictions"]


def test_a_raw_held_back_day_scores_the_same_through_api_mlflow_and_mlflow_serve(trained_ws):
    ws = trained_ws
    frame = held_back_day(ws)
    records = as_json_records(frame)
    assert "wind_gust" in records[0] and "time_hour_month" not in records[0]

    info, by_records, by_rows = _api_answers(ws, records)

    served_fields = {f["name"]: f["type"] for f in info["inputs"]}
    assert served_fields == {
        c: served_fields[c] for c in frame.columns
    }  # exactly the landing columns minus the target
    assert served_fields["time_hour"] == "datetime"
    mlflow.set_tracking_uri(ws.tracking_uri)
    uri = f"models:/{ws.config.model_name}@champion"
    sk = mlflow.sklearn.load_model(uri)
    pyfunc = mlflow.pyfunc.load_model(uri)
    labels = sk.predict(frame).tolist()
    proba = sk.predict_proba(frame)[:, 1]
    assert by_records["predictions"] == labels == by_rows["predictions"]
    assert np.allclose(by_records["probabilities"], proba, atol=1e-12)
    assert np.allclose(by_rows["probabilities"], proba, atol=1e-12)
    assert np.asarray(pyfunc.predict(frame)).tolist() == labels
    assert _mlflow_serve(ws, records) == labels
    assert np.ptp(proba) > 0.05  # the probabilities vary: the comparison is not trivially equal


@pytest.fixture(scope="module")
def computers_ws(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("computers") / "ws"
    init_workspace(root, demo="computers", initial=12)
    for extra in sorted((root / ".demo" / "holdback").iterdir())[2:]:
        extra.unlink()
    result = run_pipeline(Workspace.open(root))
    assert result.status == "ok", result.message
    ws = set_training(root, candidates=["ridge", "lightgbm"])
    train(ws)
    return ws


def test_the_regression_demo_takes_raw_records_through_the_same_path(computers_ws, tmp_path):
    ws = Workspace.open(copy_workspace(computers_ws.root, tmp_path / "ws"))
    frame = held_back_day(ws)
    records = as_json_records(frame)
    assert "trend" in records[0]  # dropped inside the model, accepted in the record

    info, by_records, by_rows = _api_answers(ws, records)

    assert {f["name"] for f in info["inputs"]} == set(frame.columns)
    mlflow.set_tracking_uri(ws.tracking_uri)
    expected = mlflow.sklearn.load_model(f"models:/{ws.config.model_name}@champion").predict(frame)
    assert np.allclose(by_records["predictions"], expected, rtol=1e-9)
    assert np.allclose(by_rows["predictions"], expected, rtol=1e-9)
    assert np.ptp(expected) > 0
