"""Canary and shadow traffic reach only a challenger whose gates passed (real MLflow store)."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from litestar.testing import TestClient
from workspaces import copy_workspace

from api.app import create_app
from api.model_store import ModelStore
from api.settings import ServeSettings
from core.predictions.readers import read_predictions
from core.registry.tracking import TAG_GATES_STATUS
from core.workspace import Workspace

pytestmark = pytest.mark.slow
KEY, ADMIN = "test-key", "admin-key"


@pytest.fixture
def failing_challenger(two_versions_template, tmp_path) -> Workspace:
    """Champion v1 and `challenger` on v2, whose gates (re-evaluated) now fail."""
    ws = Workspace.open(copy_workspace(two_versions_template, tmp_path / "ws"))
    client = mlflow.MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    client.set_model_version_tag(ws.config.model_name, "2", TAG_GATES_STATUS, "fail")
    return ws


def _records(ws: Workspace, n: int) -> list[dict]:
    path = sorted((ws.root / ".demo" / "holdback").glob("*.csv"))[0]
    frame = pd.read_csv(path, nrows=n).drop(columns=[ws.config.target])
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _settings(ws: Workspace, tmp_path, **kw) -> ServeSettings:
    base = {"api_keys": [KEY], "admin_key": ADMIN, "predictions_dir": tmp_path / "log"}
    return ServeSettings.from_workspace(ws, **(base | {"poll_seconds": 60} | kw))


def test_the_model_store_refuses_a_challenger_whose_gates_failed(failing_challenger):
    ws = failing_challenger
    store = ModelStore(ws.config.model_name, ws.tracking_uri, want_challenger=True)

    store.check()

    assert store.champion.version == "1" and store.challenger is None
    assert store.refused_challenger == "2" and store.degraded is None


def test_no_canary_or_shadow_traffic_reaches_a_failing_challenger(failing_challenger, tmp_path):
    ws = failing_challenger
    settings = _settings(ws, tmp_path, canary_fraction=1.0, shadow_fraction=1.0)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready").json()
        body = client.post(
            "/predict", json={"records": _records(ws, 3)}, headers={"X-API-Key": KEY}
        ).json()
    assert ready == {"ready": True, "degraded": None, "model": "1", "challenger": None}
    assert body["variant"] == "champion" and body["model"]["version"] == "1"
    log = read_predictions(settings.predictions_dir)
    assert set(log["variant"]) == {"champion"} and set(log["model_version"]) == {"1"}


def test_a_challenger_whose_gates_pass_again_is_served_after_a_reload(failing_challenger, tmp_path):
    ws = failing_challenger
    client_ = mlflow.MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    with TestClient(create_app(_settings(ws, tmp_path, canary_fraction=1.0))) as client:
        assert client.get("/ready").json()["challenger"] is None
        client_.set_model_version_tag(ws.config.model_name, "2", TAG_GATES_STATUS, "pass")
        assert client.post("/admin/reload", headers={"X-API-Key": ADMIN}).status_code == 200
        body = client.post(
            "/predict", json={"records": _records(ws, 2)}, headers={"X-API-Key": KEY}
        ).json()
    assert body["variant"] == "challenger" and body["model"]["version"] == "2"
