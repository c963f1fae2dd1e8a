"""Load on a real `workbench serve` during 10 promotions and rollbacks.

Eight keep-alive clients send one-record /predict requests (at least 10,000 in all) while the
main thread alternates `promote` (v1 -> v2) and `rollback` (v2 -> v1), each time waiting until
the server answers with the new version and then for a stretch of answers on it. No request may
fail, and every answer must name the version that produced it: its prediction and probability
are those of that version (loaded independently with MLflow) and the same every time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from servers import api_server
from test_api import _as_records
from workspaces import copy_workspace

from core.registry.promotion import promote, rollback
from core.training.data import load_split
from core.workspace import Workspace

pytestmark = pytest.mark.slow

KEY = "load-key"
THREADS = 8
MIN_REQUESTS = 10_000
SWAPS = 10
SETTLE = MIN_REQUESTS // (SWAPS + 1)  # answers on the new version before the next swap
SWAP_DEADLINE = 90.0  # seconds for a swap to be served: poll + load + warm on a busy machine
POOL = 40  # distinct records, each sent many times to each version


@dataclass(frozen=True, slots=True)
class Answer:
    """One request as the client saw it (monotonic times)."""

    record: int
    started: float
    ended: float
    status: int | None = None
    version: str | None = None
    prediction: object = None
    probability: float | None = None
    error: str | None = None


class Load:
    """Client threads posting one record per request until stopped."""

    def __init__(self, url: str, records: list[dict]) -> None:
        self.url, self.records = url, records
        self.answers: list[list[Answer]] = [[] for _ in range(THREADS)]
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(THREADS)
        ]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _run(self, i: int) -> None:
        out, n = self.answers[i], i
        with httpx.Client(base_url=self.url, headers={"X-API-Key": KEY}, timeout=30) as client:
            while not self.stop.is_set():
                idx, n = n % len(self.records), n + THREADS
                started = time.monotonic()
                try:
                    resp = client.post("/predict", json={"records": [self.records[idx]]})
                except httpx.HTTPError as exc:
                    out.append(Answer(idx, started, time.monotonic(), error=repr(exc)))
                    continue
                ended = time.monotonic()
                if resp.status_code != 200:
                    out.append(Answer(idx, started, ended, resp.status_code, error=resp.text))
                    continue
                body = resp.json()
                proba = body["probabilities"]
                out.append(
                    Answer(
                        idx,
                        started,
                        ended,
                        200,
                        body["model"]["version"],
                        body["predictions"][0],
                        None if proba is None else proba[0],
                    )
                )

    def all(self) -> list[Answer]:
        return [a for answers in self.answers for a in list(answers)]

    def count(self) -> int:
        return sum(len(a) for a in self.answers)

    def wait(self, what: str, predicate, deadline: float) -> float:
        """Poll the answers until `predicate(answers)` returns a time; fail after `deadline`."""
        limit = time.monotonic() + deadline
        while time.monotonic() < limit:
            found = predicate(self.all())
            if found is not None:
                return found
            time.sleep(0.1)
        pytest.fail(f"{what} not seen within {deadline:.0f} s ({self.count()} answers)")


@dataclass(frozen=True)
class Swap:
    target: str
    begun: float  # before the alias moved
    served: float  # the first answer naming `target` from a request started after `begun`


def _served(target: str, begun: float):
    def first(answers: list[Answer]) -> float | None:
        hits = [a.ended for a in answers if a.started > begun and a.version == target]
        return min(hits) if hits else None

    return first


def _settled(after: float, n: int):
    def enough(answers: list[Answer]) -> float | None:
        return time.monotonic() if sum(a.started > after for a in answers) >= n else None

    return enough


def _drain(proc) -> list[str]:
    """Read the server's output in the background so its pipe never fills up."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return lines


def _expected(ws: Workspace, records: list[dict]) -> dict[str, list[tuple]]:
    """Per version, (prediction, probability) of each record, scored outside the API."""
    mlflow.set_tracking_uri(ws.tracking_uri)
    name = ws.config.model_name
    split = load_split(ws)
    out = {}
    for version in ("1", "2"):
        model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
        rows = []
        for rec in records:
            frame = pd.DataFrame.from_records([rec])
            proba = model.predict_proba(frame)
            rows.append((np.asarray(model.predict(frame)).tolist()[0], float(proba[0, 1])))
        # The pyfunc flavour (what MLflow serving would answer) agrees on the holdout rows.
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        assert np.asarray(pyfunc.predict(split.X_test.head(len(records)))).tolist() == [
            p for p, _ in rows
        ]
        out[version] = rows
    return out


def test_ten_promotions_and_rollbacks_under_load_fail_no_request(two_versions_template, tmp_path):
    ws = Workspace.open(copy_workspace(two_versions_template, tmp_path / "ws"))
    records = _as_records(load_split(ws).X_test.head(POOL))  # raw: `_expected` checks pyfunc
    started = time.monotonic()
    with api_server(ws.root, poll_seconds=0.5, WORKBENCH_API_KEYS=KEY) as (url, proc):
        output = _drain(proc)
        swaps: list[Swap] = []
        with Load(url, records) as load:
            load.wait("the first answers", _settled(0, SETTLE), SWAP_DEADLINE)
            current = "1"
            for k in range(SWAPS):
                target = "2" if current == "1" else "1"
                begun = time.monotonic()
                if target == "2":
                    promote(ws, "2", f"load test swap {k}", "load-test", force=True)
                else:
                    rollback(ws, f"load test swap {k}", "load-test")
                served = load.wait(f"swap {k} to v{target}", _served(target, begun), SWAP_DEADLINE)
                swaps.append(Swap(target, begun, served))
                load.wait(f"answers after swap {k}", _settled(served, SETTLE), SWAP_DEADLINE)
                current = target
            load.wait("enough requests", lambda a: 1.0 if len(a) >= MIN_REQUESTS else None, 300)
        answers = load.all()
    elapsed = time.monotonic() - started

    failed = [a for a in answers if a.status != 200]
    tail = "".join(output[-30:])
    assert not failed, f"{len(failed)} failed requests, e.g. {failed[:3]}\nserver:\n{tail}"
    assert len(answers) >= MIN_REQUESTS
    assert {a.version for a in answers} == {"1", "2"}

    # Between a swap being served and the next swap beginning, every request that started after
    # the first answer on the new version is answered by it: no flapping back, even in flight.
    windows = [(float("-inf"), swaps[0].begun, "1")]
    for k, swap in enumerate(swaps):
        end = swaps[k + 1].begun if k + 1 < len(swaps) else float("inf")
        windows.append((swap.served, end, swap.target))
    for k, (lo, hi, version) in enumerate(windows):
        inside = [a for a in answers if a.started > lo and a.ended < hi]
        assert len(inside) >= SETTLE, (k, len(inside))
        assert {a.version for a in inside} == {version}, f"window {k} expected only v{version}"
    # So the answers show all 10 transitions: 11 windows, each of at least SETTLE answers and
    # all on the version its swap promised, alternating 1, 2, 1, ...

    # Each answer is the named version's own: the prediction and probability of that version
    # scored independently with MLflow, and the same every time the record is sent.
    expected = _expected(ws, records)
    assert any(
        abs(p1 - p2) > 1e-6 for (_, p1), (_, p2) in zip(expected["1"], expected["2"], strict=True)
    ), "the two versions must differ for the attribution check to mean anything"
    # Concurrent one-record requests are micro-batched, so a probability may differ in its last
    # bits with the batch's size (BLAS summation order); the prediction itself may not.
    seen: dict[tuple[str, int], list[Answer]] = {}
    for a in answers:
        seen.setdefault((a.version, a.record), []).append(a)
    for (version, idx), group in seen.items():
        want_pred, want_proba = expected[version][idx]
        assert {a.prediction for a in group} == {want_pred}, (version, idx)
        probas = [a.probability for a in group]
        assert max(probas) - min(probas) <= 1e-12, (version, idx, min(probas), max(probas))
        assert probas[0] == pytest.approx(want_proba, rel=1e-9, abs=1e-12), (version, idx)

    lag = [s.served - s.begun for s in swaps]
    print(
        f"\n{len(answers)} requests in {elapsed:.1f} s ({len(answers) / elapsed:.0f}/s), "
        f"swap served after {min(lag):.2f}-{max(lag):.2f} s"
    )
