"""`"explain": true` on `POST /predict` against a real `workbench serve` of a LightGBM champion.

Explanations add up to the answered probability in log-odds, are keyed by exactly the model's
raw input fields, leave the answer unchanged when not asked for, refuse too many records and a
model family without an exact method (naive Bayes, served as the canary) naming `explain`.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import httpx
import pytest
import yaml
from litestar.testing import TestClient
from servers import api_server
from test_api import KEY as CLIENT_KEY
from test_api import _post, _records, _settings
from workspaces import copy_workspace, set_training

from api.app import create_app
from core.serving.explain import MAX_EXPLAIN_ROWS
from core.training.train import train
from core.workspace import Workspace

pytestmark = pytest.mark.slow
KEY = "explain-key"


@pytest.fixture(scope="module")
def lightgbm_template(versioned_template, tmp_path_factory) -> Path:
    """The versioned demo after a quick training of LightGBM only (champion v1)."""
    root = tmp_path_factory.mktemp("explain-lgbm") / "ws"
    shutil.copytree(versioned_template, root, symlinks=True)
    result = train(set_training(root, candidates=["lightgbm"]))
    assert result.registered["aliases"] == ["champion"], result.registered
    return root


@pytest.fixture(scope="module")
def server(lightgbm_template, tmp_path_factory):
    root = copy_workspace(lightgbm_template, tmp_path_factory.mktemp("explain-serve") / "ws")
    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["serving"] = {**(cfg.get("serving") or {}), "max_batch": 500}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with api_server(root, poll_seconds=60, WORKBENCH_API_KEYS=KEY) as (url, _):
        yield url, Workspace.open(root)


def _predict(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/predict", json=body, headers={"X-API-Key": KEY}, timeout=60)


def test_explanations_add_up_to_the_answered_probability_in_log_odds(server):
    url, ws = server
    records = _records(ws, 40)
    body = _predict(url, {"records": records, "explain": True}).json()
    fields = [f["name"] for f in httpx.get(f"{url}/model", timeout=10).json()["inputs"]]
    assert len(body["explanations"]) == len(records) == len(body["probabilities"])
    for exp, proba in zip(body["explanations"], body["probabilities"], strict=True):
        assert exp["space"] == "log_odds"
        assert list(exp["contributions"]) == fields  # every raw input, nothing engineered
        logit = exp["base_value"] + sum(exp["contributions"].values())
        assert abs(1 / (1 + math.exp(-logit)) - proba) < 1e-6
    moved = {f for e in body["explanations"] for f, v in e["contributions"].items() if v}
    assert {"time_hour", "carrier", "dest", "temp", "dewp"} <= moved  # date parts, one-hot, ...
    assert body["explanations"][0]["contributions"]["wind_gust"] == 0.0  # dropped by the model


def test_the_columnar_form_is_explained_like_records(server):
    url, ws = server
    records = _records(ws, 5)
    columns = list(records[0])
    rows = [[r[c] for c in columns] for r in records]
    by_rows = _predict(url, {"columns": columns, "rows": rows, "explain": True}).json()
    by_records = _predict(url, {"records": records, "explain": True}).json()
    assert by_rows["explanations"] == by_records["explanations"]


def test_without_explain_the_answer_is_unchanged(server):
    url, ws = server
    records = _records(ws, 5)
    plain = _predict(url, {"records": records}).json()
    off = _predict(url, {"records": records, "explain": False}).json()
    assert "explanations" not in plain and "explanations" not in off
    assert (
        set(plain) == set(off) == {"predictions", "model", "request_id", "variant", "probabilities"}
    )
    assert plain["probabilities"] == off["probabilities"]


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_explain_takes_only_a_json_boolean(server, value):
    url, ws = server
    refused = _predict(url, {"records": _records(ws, 2), "explain": value})
    assert refused.status_code == 422, refused.text
    assert refused.json()["extra"]["field"] == "explain"


def test_too_many_records_to_explain_are_refused_naming_explain(server):
    url, ws = server
    records = _records(ws, MAX_EXPLAIN_ROWS + 1)
    refused = _predict(url, {"records": records, "explain": True})
    assert refused.status_code == 413, refused.text
    assert refused.json()["extra"]["field"] == "explain"
    assert f"{MAX_EXPLAIN_ROWS}" in refused.json()["detail"]
    assert _predict(url, {"records": records}).status_code == 200  # the batch itself is fine


def test_the_openapi_body_documents_explain_in_both_forms(server):
    url, _ = server
    doc = httpx.get(f"{url}/schema/openapi.json", timeout=10).json()
    for form in doc["components"]["schemas"]["PredictRequest"]["oneOf"]:
        assert form["properties"]["explain"]["type"] == "boolean"
        assert "explain" not in form["required"]
        batch = "records" if "records" in form["properties"] else "rows"
        assert form["then"]["properties"][batch]["maxItems"] == MAX_EXPLAIN_ROWS


@pytest.fixture(scope="module")
def two_versions(two_versions_template, tmp_path_factory):
    """Champion v1 and a gate-passing naive Bayes challenger v2."""
    root = tmp_path_factory.mktemp("explain-nb") / "ws"
    return Workspace.open(copy_workspace(two_versions_template, root))


def test_a_model_family_without_an_exact_method_is_422_naming_it(two_versions, tmp_path):
    records = _records(two_versions, 3)
    with TestClient(create_app(_settings(two_versions, tmp_path, canary_fraction=1.0))) as c:
        refused = c.post(
            "/predict",
            json={"records": records, "explain": True},
            headers={"X-API-Key": CLIENT_KEY},
        )
        assert _post(c, records).status_code == 200  # without explain the canary answers
    assert refused.status_code == 422, refused.text
    assert "GaussianNB" in refused.json()["detail"]
    assert refused.json()["extra"]["field"] == "explain"
