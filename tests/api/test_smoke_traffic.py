"""`X-Workbench-Traffic: smoke`: the champion answers (no canary, no shadow), the rows are logged
and counted as variant `smoke`, and only a key with role admin may mark a request so."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from test_api import ADMIN, KEY, _records, _settings, two_versions  # noqa: F401 - a fixture

from api.app import create_app
from api.guards import traffic_mark
from core.predictions.readers import read_predictions
from core.serving import keys

pytestmark = pytest.mark.slow
SMOKE = {"X-Workbench-Traffic": "smoke"}


def _post(client, key: str, records, **headers):
    return client.post("/predict", json={"records": records}, headers={"X-API-Key": key} | headers)


def test_a_smoke_request_is_the_champions_logged_and_counted_as_smoke(two_versions, tmp_path):  # noqa: F811
    settings = _settings(two_versions, tmp_path, canary_fraction=1.0, shadow_fraction=1.0)
    records = _records(two_versions, 3)
    with TestClient(create_app(settings)) as client:
        smoke = _post(client, ADMIN, records, **SMOKE).json()
        real = _post(client, KEY, records).json()  # every real request is the canary's here
        via_mlflow = client.post(
            "/invocations",
            json={"dataframe_records": records},
            headers={"X-API-Key": ADMIN} | SMOKE,
        )
        metrics = client.get("/metrics").text
    assert smoke["variant"] == "smoke" and smoke["model"]["version"] == "1"
    assert smoke["model"]["alias"] == "champion"
    assert real["variant"] == "challenger"
    assert via_mlflow.status_code == 200
    log = read_predictions(settings.predictions_dir)
    mine = log[log["request_id"] == smoke["request_id"]]
    assert mine["variant"].tolist() == ["smoke"] * 3  # no shadow copy of a smoke request
    assert set(mine["model_version"].astype(str)) == {"1"} and set(mine["client"]) == {"admin"}
    assert sorted(log["variant"].value_counts().items()) == [("challenger", 3), ("smoke", 6)]
    assert 'workbench_predictions_total{variant="smoke",version="1"} 6.0' in metrics
    assert 'workbench_predictions_total{variant="challenger",version="2"} 3.0' in metrics


def test_only_an_admin_key_may_mark_smoke_a_predict_key_gets_403_naming_it(two_versions, tmp_path):  # noqa: F811
    stored_admin = keys.create(two_versions.root, "deployer", role="admin")
    app_key = keys.create(two_versions.root, "mobile-app")
    settings = _settings(two_versions, tmp_path)
    records = _records(two_versions, 2)
    with TestClient(create_app(settings)) as client:
        assert _post(client, stored_admin, records, **SMOKE).json()["variant"] == "smoke"
        for key, name in [(KEY, "config"), (app_key, "mobile-app")]:
            refused = _post(client, key, records, **SMOKE)
            assert refused.status_code == 403, refused.text
            body = refused.json()
            assert body["extra"] == {"field": "X-Workbench-Traffic"}
            assert "smoke needs a key with role admin" in body["detail"]
            assert repr(name) in body["detail"]
        wrong = _post(client, ADMIN, records, **{"X-Workbench-Traffic": "test"})
        assert wrong.status_code == 400 and "X-Workbench-Traffic takes only 'smoke'" in wrong.text
        assert _post(client, app_key, records).json()["variant"] == "champion"  # no header
    log = read_predictions(settings.predictions_dir)
    assert sorted(log["variant"].value_counts().items()) == [("champion", 2), ("smoke", 2)]


def test_an_api_that_needs_no_key_takes_the_mark_from_anyone():
    assert traffic_mark(None, None, None, "smoke") == "smoke"  # client None: /predict is open
    assert traffic_mark(None, None, None, " Smoke ") == "smoke"
