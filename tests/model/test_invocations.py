"""`POST /invocations`: MLflow's scoring protocol answered as `mlflow models serve` answers it.

The same bodies go to a real `workbench serve` process and to a real `mlflow models serve` on
the same registered champion: every JSON format and CSV, side by side. The API's answer goes
through the same keys, validation and prediction log as `/predict`.
"""

from __future__ import annotations

import time

import httpx
import pytest
from servers import api_server, mlflow_models_serve
from test_parity import as_json_records, held_back_day

from core.predictions.readers import read_predictions

pytestmark = pytest.mark.slow
KEY = "invocations-key"


def _bodies(frame) -> dict[str, tuple[str, bytes | dict]]:
    """Name -> (content type, body): the protocol's forms of the same records."""
    records = as_json_records(frame)
    columns = list(records[0])
    rows = [[r[c] for c in columns] for r in records]
    return {
        "dataframe_split": ("json", {"dataframe_split": {"columns": columns, "data": rows}}),
        "dataframe_records": ("json", {"dataframe_records": records}),
        "instances": ("json", {"instances": records}),
        "inputs (records)": ("json", {"inputs": records}),
        "inputs (columns)": ("json", {"inputs": {c: [r[c] for r in records] for c in columns}}),
        "csv": ("csv", frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%SZ").encode()),
    }


def _post(url: str, kind: str, body, key: str | None = KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    if kind == "csv":
        headers["Content-Type"] = "text/csv"
        return httpx.post(f"{url}/invocations", content=body, headers=headers, timeout=60)
    return httpx.post(f"{url}/invocations", json=body, headers=headers, timeout=60)


def test_every_format_answers_what_mlflow_models_serve_answers(trained_ws):
    ws = trained_ws
    frame = held_back_day(ws).head(40)
    bodies = _bodies(frame)

    with mlflow_models_serve(ws) as peer:
        theirs = {name: _post(peer, kind, body, None) for name, (kind, body) in bodies.items()}
    with api_server(ws.root, WORKBENCH_API_KEYS=KEY) as (url, _):
        ours = {name: _post(url, kind, body) for name, (kind, body) in bodies.items()}
        ping, version = httpx.get(f"{url}/ping"), httpx.get(f"{url}/version")
        unkeyed = _post(url, *bodies["dataframe_records"], key=None)
        deadline, expected_rows = time.time() + 30, len(bodies) * len(frame)
        while len(log := read_predictions(ws.predictions_dir)) < expected_rows:
            assert time.time() < deadline, f"{len(log)} of {expected_rows} rows logged"
            time.sleep(0.5)  # the log is flushed in the background

    expected = theirs["dataframe_records"].json()
    assert theirs["dataframe_records"].status_code == 200, theirs["dataframe_records"].text
    for name in bodies:
        assert ours[name].status_code == 200, (name, ours[name].text)
        assert ours[name].json() == expected, name  # {"predictions": [...]}
        # MLflow 3's CSV parser refuses a datetime input (it asks pandas for a datetime64 dtype,
        # "pass this column using parse_dates instead"); every other form answers the same
        if name != "csv" or theirs[name].status_code == 200:
            assert theirs[name].json() == expected, name
    predictions = ours["dataframe_records"].json()["predictions"]
    assert len(predictions) == len(frame) and set(predictions) <= {0, 1}
    assert ping.status_code == 200
    import mlflow

    assert version.text == mlflow.__version__
    assert unkeyed.status_code == 401  # the same keys as /predict

    assert len(log) == expected_rows  # the same prediction log, nothing else logged
    assert set(log["client"]) == {"env"}  # the legacy env key's name


def test_a_bad_body_is_a_4xx_naming_the_key_or_field(trained_ws):
    ws = trained_ws
    frame = held_back_day(ws).head(3)
    records = as_json_records(frame)
    missing = [{k: v for k, v in r.items() if k != "distance"} for r in records]
    typed = [dict(r, carrier=12) for r in records]
    with api_server(ws.root, WORKBENCH_API_KEYS=KEY) as (url, _):
        answers = {
            "two formats": _post(url, "json", {"instances": records, "inputs": records}),
            "no format": _post(url, "json", {"data": records}),
            "missing field": _post(url, "json", {"dataframe_records": missing}),
            "mistyped": _post(url, "json", {"dataframe_split": {
                "columns": list(typed[0]), "data": [list(r.values()) for r in typed]}}),
            "ragged": _post(url, "json", {"inputs": {"distance": [1, 2], "carrier": ["UA"]}}),
            "not json": httpx.post(f"{url}/invocations", content=b"{", timeout=30,
                                   headers={"X-API-Key": KEY, "Content-Type": "application/json"}),
            "xml": httpx.post(f"{url}/invocations", content=b"<a/>", timeout=30,
                              headers={"X-API-Key": KEY, "Content-Type": "application/xml"}),
        }  # fmt: skip

    status = {name: r.status_code for name, r in answers.items()}
    assert status == {
        "two formats": 422,
        "no format": 422,
        "missing field": 422,
        "mistyped": 422,
        "ragged": 422,
        "not json": 400,
        "xml": 415,
    }
    field = {name: (r.json().get("extra") or {}).get("field") for name, r in answers.items()}
    assert field["two formats"] == "inputs" and field["no format"] == "data"
    assert field["missing field"] == "distance" and field["mistyped"] == "carrier"
    assert field["ragged"] == "inputs" and field["xml"] == "content-type"
    assert "send exactly one of dataframe_split" in answers["no format"].json()["detail"]
