"""Latency by phase: a real server counts every phase of every scoring request, consistently."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from servers import api_server
from test_api import _records

from api.metrics import PHASES

pytestmark = pytest.mark.slow

N = 5  # requests per payload form


def _histograms(text: str) -> dict[tuple[str, str | None], float]:
    """(sample name, phase label) -> value of the phase and latency histograms' sums and counts."""
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("workbench_request_phase_seconds", "workbench_predict_latency_seconds"):
            for s in family.samples:
                if s.name.endswith(("_sum", "_count")):
                    out[s.name, s.labels.get("phase")] = s.value
    return out


def test_every_phase_is_observed_once_per_request_and_sums_stay_within_the_latency(trained_ws):
    records = _records(trained_ws, 40)
    columns = list(records[0])
    one, many = records[:1], records  # the micro-batched path and the worker-thread path
    headers = {"X-API-Key": "k"}
    requests = []
    for batch in (one, many):
        rows = [[r[c] for c in columns] for r in batch]
        requests += [
            ("/predict", {"records": batch}),
            ("/predict", {"columns": columns, "rows": rows}),
            ("/invocations", {"dataframe_split": {"columns": columns, "data": rows}}),
            ("/invocations", {"dataframe_records": batch}),
        ]
    with api_server(trained_ws.root, WORKBENCH_API_KEYS="k") as (url, _):
        before = _histograms(httpx.get(f"{url}/metrics").text)
        assert all(before["workbench_request_phase_seconds_count", p] == 0 for p in PHASES)
        wall = 0.0
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(N):
                for path, body in requests:
                    started = time.perf_counter()
                    resp = client.post(path, json=body)
                    wall += time.perf_counter() - started
                    assert resp.status_code == 200, resp.text
            refused = client.post("/predict", json={"records": [{"nope": 1}]})
            assert refused.status_code == 422  # parsed and validated, never scored nor logged
        after = _histograms(httpx.get(f"{url}/metrics").text)

    total = N * len(requests)
    counts = {p: after["workbench_request_phase_seconds_count", p] for p in PHASES}
    assert counts == {
        "parse": total + 1,
        "validate": total + 1,
        "transform": total,
        "predict": total,
        "log": total,
    }
    sums = {p: after["workbench_request_phase_seconds_sum", p] for p in PHASES}
    assert all(v > 0 for v in sums.values()), sums
    latency = after["workbench_predict_latency_seconds_sum", None]
    assert after["workbench_predict_latency_seconds_count", None] == total
    # transform + predict happen inside the timed scoring (which also holds the batcher's and
    # the thread hop's waits); every phase happens inside the client's round trips
    assert sums["transform"] + sums["predict"] <= latency + 1e-3
    assert sum(sums.values()) <= wall
