"""A real `workbench serve` process on loopback: hot swap on promotion, SIGTERM loses nothing."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from servers import api_server
from test_api import _records
from workspaces import set_training

from core.predictions.readers import read_predictions
from core.registry.promotion import promote
from core.training.train import train

pytestmark = pytest.mark.slow


@pytest.fixture
def server(trained_ws):
    with api_server(trained_ws.root, poll_seconds=1, WORKBENCH_API_KEYS="k") as (url, proc):
        yield url, proc, trained_ws


def _predict(url: str, records: list) -> httpx.Response:
    return httpx.post(
        f"{url}/predict", json={"records": records}, headers={"X-API-Key": "k"}, timeout=30
    )


def test_promoted_version_is_served_after_the_next_poll_without_a_failed_request(server):
    url, _, ws = server
    records = _records(ws, 3)
    assert _predict(url, records).json()["model"]["version"] == "1"
    train(set_training(ws.root, candidates=["naive_bayes"]))
    promote(ws, "2", "new champion", "tester", force=True)
    promoted_at = time.time()
    versions = []
    # The swap comes at the next poll (1 s here) plus the time to load and warm version 2;
    # the deadline is generous because that load is slow on a busy CI machine.
    while time.time() - promoted_at < 90:
        resp = _predict(url, records)
        assert resp.status_code == 200, resp.text  # no request fails while the swap happens
        versions.append(resp.json()["model"]["version"])
        if versions[-1] == "2":
            break
        time.sleep(0.2)
    assert versions[-1] == "2"
    assert set(versions) <= {"1", "2"}
    assert _predict(url, records).json()["model"]["version"] == "2"  # and it stays swapped


def test_sigterm_during_load_loses_no_answered_prediction(server):
    url, proc, ws = server
    records = _records(ws, 2)
    answered: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                resp = _predict(url, records)
            except httpx.HTTPError:
                continue
            if resp.status_code == 200:
                answered.append(resp.json()["request_id"])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    deadline = time.time() + 60  # load until enough requests were answered, not a fixed time
    while len(answered) <= 20 and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    stop.set()
    for w in workers:
        w.join()
    assert len(answered) > 20
    logged = set(read_predictions(ws.root / "predictions")["request_id"])
    assert set(answered) <= logged


def test_every_request_of_a_burst_reaches_the_log_in_both_payload_forms(server):
    url, _, ws = server
    records = _records(ws, 3)
    columns = list(records[0])
    columnar = {"columns": columns, "rows": [[r[c] for c in columns] for r in records]}
    answered: list[str] = []

    def burst(n: int) -> None:
        with httpx.Client(headers={"X-API-Key": "k"}, timeout=30) as client:
            for i in range(25):
                body = columnar if (n + i) % 2 else {"records": records[: 1 + i % 3]}
                resp = client.post(f"{url}/predict", json=body)
                assert resp.status_code == 200, resp.text
                answered.append(resp.json()["request_id"])

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answered) == 200
    logged = set()
    deadline = time.time() + 60  # the next background flush (2 s) writes them; generous for CI
    while not set(answered) <= logged and time.time() < deadline:
        time.sleep(0.5)
        logged = set(read_predictions(ws.root / "predictions")["request_id"])
    assert set(answered) <= logged


def test_the_api_runs_under_uvicorn_the_measured_faster_asgi_server(server):
    # granian was measured against it here (bench_serving.py): more CPU per request (README)
    url, _, _ = server
    assert httpx.get(f"{url}/health", timeout=30).headers["server"] == "uvicorn"
