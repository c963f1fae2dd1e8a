"""The key's name, never the key: the prediction log's `client` column and the client metric."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from test_api import _records
from workspaces import copy_workspace

from api.app import create_app
from api.settings import ServeSettings
from core.predictions.readers import read_predictions
from core.serving import keys
from core.workspace import Workspace

pytestmark = pytest.mark.slow
LEGACY = "legacy-key"
METRIC = "workbench_requests_by_client_total"


@pytest.fixture
def ws(two_versions_template, tmp_path) -> Workspace:
    """Champion v1 and challenger v2, with a key store of its own."""
    return Workspace.open(copy_workspace(two_versions_template, tmp_path / "ws"))


def _app(ws: Workspace, log_dir, **kw):
    base = {"predictions_dir": log_dir, "poll_seconds": 60, "shadow_fraction": 1.0}
    return create_app(ServeSettings.from_workspace(ws, **(base | kw)))


def _post(client, path: str, body: dict, key: str | None):
    headers = {"X-API-Key": key} if key else {}
    answer = client.post(path, json=body, headers=headers)
    assert answer.status_code in (200, 202), answer.text
    return answer.json()


def test_a_store_key_is_logged_and_counted_by_name_and_its_key_is_nowhere(ws, tmp_path):
    key = keys.create(ws.root, "mobile-app")
    log_dir = tmp_path / "log"
    with TestClient(_app(ws, log_dir, api_keys=[LEGACY])) as client:
        answer = _post(client, "/predict", {"records": _records(ws, 3)}, key)
        _post(client, "/feedback", {"request_id": answer["request_id"], "actual": 1}, key)
        _post(client, "/predict", {"records": _records(ws, 1)}, LEGACY)
        metrics = client.get("/metrics").text
    # leaving the client closed (flushed) the log

    assert f'{METRIC}{{client="mobile-app"}} 2.0' in metrics  # /predict and /feedback
    assert f'{METRIC}{{client="config"}} 1.0' in metrics  # a legacy key from workbench.yaml
    assert key not in metrics and LEGACY not in metrics

    logged = read_predictions(log_dir)
    mine = logged[logged["request_id"] == answer["request_id"]]
    assert sorted(mine["variant"].value_counts().items()) == [("champion", 3), ("shadow", 3)]
    assert set(mine["client"]) == {"mobile-app"}  # the shadow's rows carry the caller too
    assert set(logged.loc[logged["request_id"] != answer["request_id"], "client"]) == {"config"}

    files = [p.read_bytes() for p in log_dir.rglob("*") if p.is_file()]
    assert any(b"mobile-app" in data for data in files)  # the name is findable in the files...
    assert not any(key.encode() in data for data in files)  # ...and the key is in none


def test_without_any_key_the_client_is_null_and_nothing_is_counted(ws, tmp_path):
    keys.store_path(ws.root).unlink(missing_ok=True)  # no stored key: this API needs none
    log_dir = tmp_path / "log"
    with TestClient(_app(ws, log_dir, api_keys=[], shadow_fraction=0.0)) as client:
        _post(client, "/predict", {"records": _records(ws, 2)}, None)
        metrics = client.get("/metrics").text

    assert f"{METRIC}{{" not in metrics
    logged = read_predictions(log_dir)
    assert len(logged) == 2 and logged["client"].isna().all()
