"""Named keys at the API: each role on its routes, expiry, revocation while a real API serves."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from litestar.testing import TestClient
from servers import api_server
from test_api import _records
from workspaces import copy_workspace

from api.app import create_app
from api.settings import ServeSettings
from core.serving import keys
from core.workspace import Workspace

pytestmark = pytest.mark.slow
LEGACY = "legacy-key"


@pytest.fixture(scope="module")
def ws(trained_template, tmp_path_factory) -> Workspace:
    """A trained workspace with its own key store (read-only model, keys per test name)."""
    return Workspace.open(copy_workspace(trained_template, tmp_path_factory.mktemp("k") / "ws"))


def _app(ws: Workspace, tmp_path, **kw):
    base = {"api_keys": [LEGACY], "predictions_dir": tmp_path / "log", "poll_seconds": 60}
    return create_app(ServeSettings.from_workspace(ws, **(base | kw)))


def _predict(client, key: str, records) -> httpx.Response:
    return client.post("/predict", json={"records": records}, headers={"X-API-Key": key})


def test_a_created_key_predicts_and_a_predict_key_is_refused_on_admin_routes(ws, tmp_path):
    predict_key = keys.create(ws.root, "mobile-app")
    admin_key = keys.create(ws.root, "ops", role="admin")
    records = _records(ws, 2)
    with TestClient(_app(ws, tmp_path)) as client:
        assert _predict(client, predict_key, records).status_code == 200
        assert _predict(client, admin_key, records).status_code == 200  # admin may predict
        assert _predict(client, LEGACY, records).status_code == 200  # legacy keys still work
        refused = client.post("/admin/reload", headers={"X-API-Key": predict_key})
        assert refused.status_code == 403
        assert "needs a key with role admin" in refused.text and "'mobile-app'" in refused.text
        assert client.post("/admin/reload", headers={"X-API-Key": admin_key}).status_code == 200
        assert _predict(client, "not-a-key", records).status_code == 403
        assert client.post("/predict", json={"records": records}).status_code == 401
        assert predict_key not in client.get("/metrics").text


def test_an_expired_key_is_refused_with_401_naming_it(ws, tmp_path):
    expired = keys.create(ws.root, "temp", expires=timedelta(seconds=-1))
    with TestClient(_app(ws, tmp_path)) as client:
        answer = _predict(client, expired, _records(ws, 1))
    assert answer.status_code == 401 and "'temp' is expired" in answer.text


def test_a_store_key_alone_makes_the_api_keyed(ws, tmp_path):
    keys.create(ws.root, "only-store")
    with TestClient(_app(ws, tmp_path, api_keys=[])) as client:
        assert client.post("/predict", json={"records": _records(ws, 1)}).status_code == 401


def _until(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the poll interval"
        time.sleep(0.1)


def test_create_and_revoke_take_effect_in_a_running_api_within_the_poll(trained_ws):
    records = _records(trained_ws, 1)
    before = keys.create(trained_ws.root, "etl")
    with api_server(trained_ws.root, poll_seconds=0.5) as (url, _):

        def status(key: str) -> int:
            return httpx.post(
                f"{url}/predict", json={"records": records}, headers={"X-API-Key": key}
            ).status_code

        assert status(before) == 200
        later = keys.create(trained_ws.root, "late-comer")
        _until(lambda: status(later) == 200)
        keys.revoke(trained_ws.root, "etl")
        _until(lambda: status(before) == 401)
        assert status(later) == 200
        stored = _by_name(trained_ws)
        _until(lambda: _by_name(trained_ws)["late-comer"].last_used is not None)
    assert stored["etl"].revoked is not None


def _by_name(ws: Workspace) -> dict[str, keys.ApiKey]:
    return {k.name: k for k in keys.load(keys.store_path(ws.root))}
