"""The prediction API through `TestClient(create_app(...))` on a real MLflow store."""

from __future__ import annotations

import dataclasses
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from litestar.testing import TestClient
from workspaces import copy_workspace, set_training

from api.app import create_app
from api.settings import ServeSettings
from core.config import load_config
from core.errors import ConfigError
from core.predictions.readers import read_feedback, read_predictions
from core.registry.promotion import promote
from core.training.data import load_split
from core.training.train import train
from core.workspace import Workspace

pytestmark = pytest.mark.slow
KEY, ADMIN = "test-key", "admin-key"


@pytest.fixture(scope="module")
def two_versions(two_versions_template, tmp_path_factory):
    """Champion v1 and a challenger v2 (naive Bayes) in one workspace, read-only for tests."""
    return Workspace.open(
        copy_workspace(two_versions_template, tmp_path_factory.mktemp("api") / "ws")
    )


def _settings(ws: Workspace, tmp_path, **kw) -> ServeSettings:
    base = {
        "api_keys": [KEY],
        "admin_key": ADMIN,
        "predictions_dir": tmp_path / "predictions",
        "poll_seconds": 60,
    }
    return ServeSettings.from_workspace(ws, **(base | kw))


def _as_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON records: timestamps as ISO-8601 strings, missing values as null."""
    out = []
    for row in frame.astype(object).to_dict(orient="records"):
        out.append(
            {
                k: None if pd.isna(v) else v.isoformat() if isinstance(v, pd.Timestamp) else v
                for k, v in row.items()
            }
        )
    return out


def _records(ws: Workspace, n: int = 20) -> list[dict]:
    """Raw records as a client sends them: a held-back landing file's rows minus the target."""
    path = sorted((ws.root / ".demo" / "holdback").glob("*.csv"))[0]
    frame = pd.read_csv(path, nrows=n).drop(columns=[ws.config.target])
    assert frame["time_hour"].map(type).eq(str).all()  # the file's ISO-8601 text, as sent
    return _as_records(frame)


def _post(client, records, key=KEY):
    return client.post("/predict", json={"records": records}, headers={"X-API-Key": key})


def test_predictions_equal_mlflow_pyfunc_on_the_demo_holdout(two_versions, tmp_path):
    ws = two_versions
    split = load_split(ws)
    mlflow.set_tracking_uri(ws.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{ws.config.model_name}@champion")
    expected = np.asarray(pyfunc.predict(split.X_test)).tolist()
    with TestClient(create_app(_settings(ws, tmp_path))) as client:
        resp = _post(client, _as_records(split.X_test))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["predictions"] == expected
    assert body["model"] == {"name": "flights-delay", "version": "1", "alias": "champion"}
    assert body["variant"] == "champion" and len(body["probabilities"]) == len(expected)
    assert np.allclose(
        body["probabilities"], pyfunc.get_raw_model().predict_proba(split.X_test)[:, 1]
    )
    with TestClient(create_app(_settings(ws, tmp_path))) as client:
        assert client.get("/model").json()["prediction_path"] == "array"  # not the pandas path


RAW_FIELDS = {
    "time_hour": "datetime",
    **dict.fromkeys(["carrier", "origin", "dest"], "string"),
    **dict.fromkeys(["distance", "sched_dep_time", "sched_arr_time"], "long"),
    **dict.fromkeys(
        ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure"]
        + ["visib"],
        "double",
    ),
}
"""The flights demo's raw inputs (the landing files' columns minus `delayed`) and their types."""


def _predict_body(doc: dict) -> dict:
    """/predict's request body schema in an OpenAPI document."""
    ref = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    return doc["components"]["schemas"][ref["schema"]["$ref"].rsplit("/", 1)[-1]]


def _record_schema(doc: dict) -> dict:
    """The schema of one record of /predict's `records` form."""
    return _predict_body(doc)["oneOf"][0]["properties"]["records"]["items"]


def test_health_ready_model_and_openapi(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path, max_batch=7))) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["model"] == "1"
        info = client.get("/model").json()
        assert info["version"] == "1" and info["alias"] == "champion" and info["loaded_at"]
        assert info["inputs"] == [
            {"name": name, "type": kind, "nullable": True} for name, kind in RAW_FIELDS.items()
        ]
        body = _predict_body(client.get("/schema/openapi.json").json())
    records, columnar = body["oneOf"]
    assert records["required"] == ["records"] and records["additionalProperties"] is False
    assert set(columnar["required"]) == {"columns", "rows"}
    assert set(columnar["properties"]) == {"columns", "rows", "explain"}  # explain: optional
    assert columnar["additionalProperties"] is False
    batch = records["properties"]["records"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 7)  # at least one, the batch limit
    record = batch["items"]
    assert record["required"] == list(RAW_FIELDS) and record["additionalProperties"] is False
    fields = record["properties"]
    assert fields["time_hour"]["type"] == ["string", "null"]
    assert fields["time_hour"]["format"] == "date-time"
    assert fields["carrier"] == {"type": ["string", "null"]}
    bound = {"minimum": -(2**53), "maximum": 2**53}
    assert fields["distance"] == {"type": ["integer", "null"], **bound}
    assert fields["temp"] == {"type": ["number", "null"], **bound}
    assert columnar["properties"]["columns"]["items"]["enum"] == list(RAW_FIELDS)
    row = columnar["properties"]["rows"]["items"]
    assert row["minItems"] == row["maxItems"] == len(RAW_FIELDS)
    assert row["prefixItems"] == list(fields.values())


def test_openapi_document_follows_the_served_model(two_versions, tmp_path):
    """The document is completed when served: a hot swap (one assignment) shows at once."""
    with TestClient(create_app(_settings(two_versions, tmp_path))) as client:
        store = client.app.state.store
        champion = store.champion
        first = client.get("/schema/openapi.json").json()
        assert _record_schema(first)["required"] == list(RAW_FIELDS)
        store.champion = dataclasses.replace(champion, version="9", fields=champion.fields[:-1])
        swapped = client.get("/schema/openapi.json").json()
        record = _record_schema(swapped)
        assert record["required"] == list(RAW_FIELDS)[:-1] and "visib" not in record["properties"]
        assert swapped["paths"] == first["paths"]
        as_yaml = yaml.safe_load(client.get("/schema/openapi.yaml").text)
        assert _predict_body(as_yaml) == _predict_body(swapped)
        assert "redoc" in client.get("/schema").text  # the documentation site loads the JSON
        store.champion = None  # nothing loaded: the document still serves, records free-form
        assert _record_schema(client.get("/schema/openapi.json").json()) == {"type": "object"}


@pytest.mark.parametrize(
    ("mutate", "status", "field", "index"),
    [
        (lambda r: r[3].pop("carrier"), 422, "carrier", 3),
        (lambda r: r[1].update(colour="red"), 422, "colour", 1),
        (lambda r: r[2].update(distance="far"), 422, "distance", 2),
        (lambda r: r[0].update(carrier=12), 422, "carrier", 0),
        (lambda r: r[4].update(distance=1598.5), 422, "distance", 4),
        (lambda r: r[2].update(time_hour="yesterday"), 422, "time_hour", 2),
        (lambda r: r[1].update(temp=2.0**60), 422, "temp", 1),
    ],
    ids=[
        "missing",
        "unknown",
        "mistyped-number",
        "mistyped-string",
        "fractional-integer",
        "not-a-timestamp",
        "out-of-range",
    ],
)
def test_bad_records_get_4xx_naming_field_and_index(
    two_versions, tmp_path, mutate, status, field, index
):
    records = _records(two_versions, 5)
    mutate(records)
    with TestClient(create_app(_settings(two_versions, tmp_path))) as client:
        resp = _post(client, records)
    assert resp.status_code == status
    body = resp.json()
    assert body["extra"] == {"index": index, "field": field}
    assert f"records[{index}]" in body["detail"] and field in body["detail"]


def test_integer_fields_take_integral_numbers_only(two_versions, tmp_path):
    """`long` is JSON Schema's `integer`: 2359.0 is one, 2359.5 is not (small or large batch)."""
    with TestClient(create_app(_settings(two_versions, tmp_path))) as client:
        for n in (2, 20):  # checked value by value, and by column type sets
            records = _records(two_versions, n)
            expected = _post(client, records).json()["predictions"]
            as_floats = [r | {"sched_dep_time": float(r["sched_dep_time"])} for r in records]
            resp = _post(client, as_floats)
            assert resp.status_code == 200 and resp.json()["predictions"] == expected
            as_floats[-1]["sched_dep_time"] += 0.5
            resp = _post(client, as_floats)
            assert resp.status_code == 422
            assert resp.json()["extra"] == {"index": n - 1, "field": "sched_dep_time"}


def test_batch_and_body_limits_and_malformed_bodies(two_versions, tmp_path):
    settings = _settings(two_versions, tmp_path, max_batch=3, max_body_bytes=4096)
    with TestClient(create_app(settings)) as client:
        assert _post(client, _records(two_versions, 4)).status_code == 413
        assert _post(client, []).status_code == 422
        big = [{"carrier": "x" * 5000}]
        assert _post(client, big).status_code == 413
        bad = client.post(
            "/predict",
            content=b"{not json",
            headers={"X-API-Key": KEY, "Content-Type": "application/json"},
        )
        assert bad.status_code == 400
        wrong_type = client.post("/predict", json={"records": "x"}, headers={"X-API-Key": KEY})
        assert wrong_type.status_code == 400
        # What the document does not allow: null for an absent form, another top-level key.
        for body in (
            {"records": [], "columns": [], "rows": None},
            {"records": _records(two_versions, 1), "rows": None},
            {"records": _records(two_versions, 1), "model": "2"},
        ):
            resp = client.post("/predict", json=body, headers={"X-API-Key": KEY})
            assert resp.status_code == 400, (body, resp.text)


def test_columnar_payload_equals_records_and_names_bad_fields(two_versions, tmp_path):
    records = _records(two_versions, 5)
    columns = list(reversed(list(records[0])))  # any column order
    rows = [[r[c] for c in columns] for r in records]
    settings = _settings(two_versions, tmp_path, max_batch=5)
    with TestClient(create_app(settings)) as client:

        def send(body: dict):
            return client.post("/predict", json=body, headers={"X-API-Key": KEY})

        by_records = _post(client, records).json()
        by_rows = send({"columns": columns, "rows": rows})
        assert by_rows.status_code == 200, by_rows.text
        assert by_rows.json()["predictions"] == by_records["predictions"]
        assert by_rows.json()["probabilities"] == by_records["probabilities"]

        def error(body: dict) -> tuple[int, str, object]:
            resp = send(body)
            return resp.status_code, resp.json()["extra"]["field"], resp.json()["detail"]

        assert error({"columns": columns})[:2] == (422, "rows")
        assert error({"rows": rows})[:2] == (422, "columns")
        assert error({})[:2] == (422, "records")
        assert error({"records": records, "columns": columns, "rows": rows})[:2] == (
            422,
            "records",
        )
        assert error({"columns": columns[1:], "rows": [r[1:] for r in rows]})[:2] == (
            422,
            columns[0],
        )
        assert error({"columns": [*columns, "extra"], "rows": rows})[:2] == (422, "extra")
        assert error({"columns": [*columns, columns[0]], "rows": rows})[:2] == (422, columns[0])
        short = [rows[0], rows[1][:-1]]
        assert error({"columns": columns, "rows": short})[:2] == (422, "rows")
        i = columns.index("distance")
        mistyped = [rows[0][:i] + ["far"] + rows[0][i + 1 :]]
        status, field, detail = error({"columns": columns, "rows": mistyped})
        assert (status, field) == (422, "distance") and "rows[0]" in detail
        assert send({"columns": columns, "rows": rows * 2}).status_code == 413
        logged = client.app.state.log
    logged.flush()
    frame = read_predictions(tmp_path / "predictions")
    assert len(frame) == 10  # both requests, every record logged with its inputs
    assert {"carrier", "distance"} <= set(json.loads(frame["inputs_json"].iloc[-1]))


def test_api_keys_and_admin_key(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path))) as client:
        records = _records(two_versions, 1)
        assert client.post("/predict", json={"records": records}).status_code == 401
        assert _post(client, records, key="wrong").status_code == 403
        assert _post(client, records).status_code == 200
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers={"X-API-Key": KEY}).status_code == 403
        ok = client.post("/admin/reload", headers={"X-API-Key": ADMIN})
        assert ok.status_code == 200 and ok.json()["changed"] is False


def test_metrics_count_requests_predictions_and_model(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path))) as client:
        _post(client, _records(two_versions, 7))
        _post(client, [{"nope": 1}])
        text = client.get("/metrics").text
    assert 'workbench_predictions_total{variant="champion",version="1"} 7.0' in text
    assert 'workbench_requests_total{route="/predict",status="200"} 1.0' in text
    assert 'workbench_requests_total{route="/predict",status="422"} 1.0' in text
    assert 'workbench_model_info{alias="champion",name="flights-delay",version="1"} 1.0' in text
    assert "workbench_predict_latency_seconds_bucket" in text
    assert 'workbench_errors_total{type="validation"} 1.0' in text


def test_errors_are_counted_by_type(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path, max_batch=2))) as client:
        client.post("/predict", json={"records": _records(two_versions, 1)})  # no key
        _post(client, _records(two_versions, 1), key="wrong")
        _post(client, _records(two_versions, 3))  # over max_batch
        client.get("/nowhere")
        text = client.get("/metrics").text
    assert 'workbench_errors_total{type="auth"} 2.0' in text
    assert 'workbench_errors_total{type="too_large"} 1.0' in text
    assert 'workbench_errors_total{type="not_found"} 1.0' in text
    assert 'workbench_errors_total{type="server"}' not in text


def test_feedback_needs_a_key_a_valid_body_and_an_enabled_log(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path))) as client:
        body = {"request_id": "abc", "actual": 1}
        assert client.post("/feedback", json=body).status_code == 401
        assert client.post("/feedback", json=body, headers={"X-API-Key": "no"}).status_code == 403
        bad = client.post("/feedback", json={"actual": 1}, headers={"X-API-Key": KEY})
        assert bad.status_code == 400 and "request_id" in bad.text
    off = _settings(two_versions, tmp_path, predictions_dir=None)
    with TestClient(create_app(off)) as client:
        disabled = client.post("/feedback", json=body, headers={"X-API-Key": KEY})
        assert disabled.status_code == 409 and "prediction log is disabled" in disabled.text


def test_model_is_503_before_a_load_and_reload_refuses_without_an_admin_key(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path, model_name="nope"))) as c:
        missing = c.get("/model")
        assert missing.status_code == 503 and "no model loaded" in missing.text
    with TestClient(create_app(_settings(two_versions, tmp_path, admin_key=None))) as c:
        refused = c.post("/admin/reload", headers={"X-API-Key": KEY})
        assert refused.status_code == 403 and "admin key" in refused.text


def test_canary_answers_with_the_challenger_and_says_so(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path, canary_fraction=1.0))) as c:
        body = _post(c, _records(two_versions, 3)).json()
    assert body["variant"] == "challenger"
    assert body["model"] == {"name": "flights-delay", "version": "2", "alias": "challenger"}


def test_shadow_scores_in_background_and_every_prediction_is_logged(two_versions, tmp_path):
    settings = _settings(two_versions, tmp_path, shadow_fraction=1.0)
    with TestClient(create_app(settings)) as client:
        body = _post(client, _records(two_versions, 4)).json()
        assert body["variant"] == "champion"
        fb = client.post(
            "/feedback",
            json={"request_id": body["request_id"], "actual": 1},
            headers={"X-API-Key": KEY},
        )
        assert fb.status_code == 202
    log = read_predictions(settings.predictions_dir)
    assert sorted(log["variant"].value_counts().items()) == [("champion", 4), ("shadow", 4)]
    assert set(log["request_id"]) == {body["request_id"]}
    assert set(log.loc[log.variant == "shadow", "model_version"]) == {"2"}
    feedback = read_feedback(settings.predictions_dir)
    assert feedback["request_id"].tolist() == [body["request_id"]]


def test_not_ready_without_a_model_and_degraded_when_registry_is_down(two_versions, tmp_path):
    with TestClient(create_app(_settings(two_versions, tmp_path, model_name="nope"))) as c:
        assert c.get("/ready").status_code == 503
        assert _post(c, _records(two_versions, 1)).status_code == 503
    with TestClient(create_app(_settings(two_versions, tmp_path))) as client:
        client.app.state.store.tracking_uri = "http://127.0.0.1:9"  # registry goes away
        reload = client.post("/admin/reload", headers={"X-API-Key": ADMIN}).json()
        assert reload["degraded"].startswith("registry unreachable")
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["degraded"]
        assert _post(client, _records(two_versions, 2)).status_code == 200


def test_promotion_is_hot_swapped_on_reload(trained_ws, tmp_path):
    ws = trained_ws
    train(set_training(ws.root, candidates=["naive_bayes"]))
    with TestClient(create_app(_settings(ws, tmp_path))) as client:
        assert _post(client, _records(ws, 2)).json()["model"]["version"] == "1"
        promote(ws, "2", "canary looked good", "tester", force=True)
        assert client.post("/admin/reload", headers={"X-API-Key": ADMIN}).json()["changed"]
        assert _post(client, _records(ws, 2)).json()["model"]["version"] == "2"
        assert client.get("/model").json()["version"] == "2"


def test_the_server_keeps_the_loaded_models_out_of_full_gc_passes(two_versions, tmp_path):
    import gc

    from api.model_store import ModelStore

    gc.unfreeze()
    try:
        with TestClient(create_app(_settings(two_versions, tmp_path, freeze_heap=True))) as client:
            assert _post(client, _records(two_versions, 2)).status_code == 200
            frozen = gc.get_freeze_count()
            assert frozen > 100_000  # MLflow, scikit-learn, the model: never scanned again
            store = client.app.state.store
            assert isinstance(store, ModelStore)
            assert all(o is not store for o in gc.get_objects())  # frozen, no longer scanned
        without = _settings(two_versions, tmp_path / "plain")  # the default, as in tests
        gc.unfreeze()
        with TestClient(create_app(without)) as client:
            assert _post(client, _records(two_versions, 2)).status_code == 200
            assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_store_that_does_not_exist_is_not_created_by_the_api(tmp_path):
    from api.model_store import ModelStore

    db = tmp_path / "mlflow.db"
    store = ModelStore("m", f"sqlite:///{db}")
    assert store.check() is False
    assert not db.exists()  # a training process may be creating it right now
    assert store.champion is None and store.degraded is None


def test_rate_limit_per_client_returns_429_and_spares_health(two_versions, tmp_path):
    settings = _settings(two_versions, tmp_path, rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as client:
        records = _records(two_versions, 1)
        codes = [_post(client, records).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert all(client.get("/health").status_code == 200 for _ in range(5))


def test_unknown_fields_are_refused_or_ignored_as_configured(trained_ws, tmp_path):
    """`serving.unknown_fields`: `reject` (default) names the field; `ignore` drops it."""
    ws = trained_ws
    records = _records(ws, 3)
    extra = [r | {"colour": "red", "gate": 7} for r in records]
    columns = [*records[0], "colour"]
    rows = [[*r.values(), "red"] for r in records]

    def send(client, body):
        return client.post("/predict", json=body, headers={"X-API-Key": KEY})

    with TestClient(create_app(_settings(ws, tmp_path / "reject"))) as client:
        plain = send(client, {"records": records}).json()
        assert "ignored_fields" not in plain  # present only when something was ignored
        refused = send(client, {"records": extra})
        assert refused.status_code == 422 and refused.json()["extra"] == {
            "index": 0,
            "field": "colour",
        }
        refused = send(client, {"columns": columns, "rows": rows})
        assert refused.status_code == 422 and refused.json()["extra"]["field"] == "colour"

    config = ws.config_path.read_text()
    ws.config_path.write_text(
        config.replace("serving:\n", "serving:\n  unknown_fields: ignore\n", 1)
    )
    settings = _settings(Workspace.open(ws.root), tmp_path / "ignore")
    assert settings.unknown_fields == "ignore"  # read from workbench.yaml
    with TestClient(create_app(settings)) as client:
        by_records = send(client, {"records": extra})
        assert by_records.status_code == 200, by_records.text
        assert by_records.json()["ignored_fields"] == ["colour", "gate"]
        assert by_records.json()["predictions"] == plain["predictions"]
        by_rows = send(client, {"columns": columns, "rows": rows})
        assert by_rows.status_code == 200, by_rows.text
        assert by_rows.json()["ignored_fields"] == ["colour"]
        assert by_rows.json()["probabilities"] == plain["probabilities"]
        # A misspelt input is not silently imputed: the real one is missing.
        typo = [{("tmep" if k == "temp" else k): v for k, v in r.items()} for r in records]
        missing = send(client, {"records": typo})
        assert missing.status_code == 422 and missing.json()["extra"] == {
            "index": 0,
            "field": "temp",
        }
        record = _record_schema(client.get("/schema/openapi.json").json())
        assert record["additionalProperties"] is True
        client.app.state.log.flush()
    logged = read_predictions(tmp_path / "ignore" / "predictions")
    inputs = [json.loads(text) for text in logged["inputs_json"]]
    assert len(inputs) == 6 and all(set(i) == set(RAW_FIELDS) for i in inputs)  # only the model's

    ws.config_path.write_text(config.replace("serving:\n", "serving:\n  unknown_fields: drop\n", 1))
    with pytest.raises(ConfigError, match="serving.unknown_fields must be one of reject, ignore"):
        load_config(ws.config_path)
