"""The API process of a simulation, the day's prediction traffic and the labels a day later."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.serving import replay
from core.serving.client import ApiTarget, ApiUnreachable, ServingClient
from core.workspace import Workspace
from scheduler.simulate.workspace import SimulationError

READY_TIMEOUT = 180
LOG_TIMEOUT = 60


# --------------------------------------------------------------------------- the API process
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Api:
    """A `workbench serve` process on loopback, with its own keys."""

    url: str
    key: str
    admin: str
    proc: subprocess.Popen
    fields: list[tuple[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def api_process(root: Path) -> Iterator[Api]:
    """Start the API over `root`, wait until it serves the champion, stop it (SIGTERM) at exit."""
    port, key, admin = _free_port(), secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    log = (root / ".workbench" / "simulate-api.log").open("w")
    env = {**os.environ, "WORKBENCH_API_KEYS": key, "WORKBENCH_ADMIN_KEY": admin}
    env.pop("WORKBENCH_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "-w", str(root), "--port", str(port)]
        + ["--poll-seconds", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = Api(f"http://127.0.0.1:{port}", key, admin, proc)
    client = ServingClient(ApiTarget(api.url, key, admin), timeout=10)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise SimulationError(f"the API exited ({proc.returncode}); see {log.name}")
            with contextlib.suppress(ApiUnreachable):
                if client.ready().get("ready"):
                    break
            if time.monotonic() > deadline:
                raise SimulationError(f"the API did not become ready; see {log.name}")
            time.sleep(0.3)
        model = client.model()
        api.fields = [(f["name"], f["type"]) for f in model["inputs"]]
        yield api
    finally:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: the API flushes its prediction log
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


# --------------------------------------------------------------------------- traffic
@dataclass
class Traffic:
    """One simulated day's predictions and their (later) outcomes."""

    day: str
    request_ids: list[str] = field(default_factory=list)
    actuals: list = field(default_factory=list)
    predictions: list = field(default_factory=list)
    probabilities: list = field(default_factory=list)
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    """Why requests were rejected (the first few): the status and body, or the client's error."""
    versions: Counter = field(default_factory=Counter)


def day_records(ws: Workspace, path: Path, fields: list[tuple[str, str]]):
    """A held-back file as the API's raw input records, and the actual target of each.

    `core.serving.replay.day_records` (shared with `workbench demo traffic`), its error a
    `SimulationError`.
    """
    try:
        return replay.day_records(ws, path, fields)
    except replay.ReplayError as exc:
        raise SimulationError(str(exc)) from None


async def _post_all(api: Api, path: str, bodies: list[dict], concurrency: int) -> list:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=api.url, headers={"X-API-Key": api.key}, timeout=60, limits=limits
    ) as client:

        async def one(body: dict):
            async with gate:
                try:
                    return await client.post(path, json=body)
                except httpx.HTTPError as exc:
                    return exc

        return await asyncio.gather(*(one(b) for b in bodies))


MAX_REJECTIONS = 5
"""Rejected requests described per day (the count covers them all)."""


def _rejection(answer) -> str:
    """A rejected request in one line: `HTTP 503: body`, or the client error `ReadTimeout: ...`."""
    if hasattr(answer, "status_code"):
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    return f"{type(answer).__name__}: {answer}"[:200]


def send_traffic(api: Api, day: str, records: list[dict], actuals: list, concurrency: int):
    """One `/predict` request per record; returns the day's `Traffic`."""
    traffic = Traffic(day)
    answers = asyncio.run(
        _post_all(api, "/predict", [{"records": [r]} for r in records], concurrency)
    )
    for answer, actual in zip(answers, actuals, strict=True):
        if not hasattr(answer, "status_code") or answer.status_code != 200:
            traffic.rejected += 1
            if len(traffic.rejections) < MAX_REJECTIONS:
                traffic.rejections.append(_rejection(answer))
            continue
        body = answer.json()
        traffic.request_ids.append(body["request_id"])
        traffic.actuals.append(actual)
        traffic.predictions.append(body["predictions"][0])
        traffic.probabilities.append((body.get("probabilities") or [None])[0])
        traffic.versions[body["model"]["version"]] += 1
    return traffic


def send_feedback(api: Api, traffic: Traffic, concurrency: int) -> int:
    """The actual outcome of each of the day's requests; returns how many were accepted."""
    bodies = [
        {"request_id": rid, "actual": actual}
        for rid, actual in zip(traffic.request_ids, traffic.actuals, strict=True)
    ]
    answers = asyncio.run(_post_all(api, "/feedback", bodies, concurrency))
    return sum(1 for a in answers if getattr(a, "status_code", 0) == 202)


def wait_logged(ws: Workspace, predictions: int, feedback: int) -> None:
    """Wait until the API has flushed this many predictions and feedback rows to its log."""
    from core.predictions.readers import prediction_log_source, read_feedback, read_predictions

    source = prediction_log_source(ws)
    deadline = time.monotonic() + LOG_TIMEOUT
    while time.monotonic() < deadline:
        if len(read_predictions(source)) >= predictions and len(read_feedback(source)) >= feedback:
            return
        time.sleep(0.3)
    raise SimulationError("the API did not write its prediction log in time")
