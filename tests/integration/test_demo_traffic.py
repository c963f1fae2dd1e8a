"""`workbench demo traffic` against a real API process: predictions, their labels, new days."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from servers import api_server, free_port

from core.predictions.readers import prediction_log_source, read_feedback, read_predictions
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

CLI = [sys.executable, "-m", "app.cli", "demo", "traffic"]
TIMEOUT = 90  # seconds on a busy machine


def _start(root, log_path, url: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, WORKBENCH_HOME=str(root), WORKBENCH_API_URL=url)
    env["WORKBENCH_API_KEYS"] = "k"
    with log_path.open("w") as log:
        return subprocess.Popen(
            [*CLI, *args], env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )


def _wait_for(predicate, what: str, log_path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log_path.read_text()}"
        time.sleep(0.3)


def _stop(proc: subprocess.Popen, sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_traffic_logs_predictions_then_their_labels_and_lands_new_days(trained_ws, tmp_path):
    source = prediction_log_source(trained_ws)
    held_back = sorted(p.name for p in trained_ws.holdback.iterdir())
    log_path = tmp_path / "traffic.log"
    with api_server(trained_ws.root, WORKBENCH_API_KEYS="k") as (url, _):
        proc = _start(
            trained_ws.root, log_path, url, "--rate", "20", "--label-delay", "1",
            "--drip-every", "0.05",  # minutes: a day lands after 3 s
        )  # fmt: skip
        try:

            def labelled() -> bool:
                assert proc.poll() is None, log_path.read_text()
                return len(read_feedback(source)) >= 10

            _wait_for(labelled, "labels in the prediction log", log_path)
            _wait_for(lambda: not (trained_ws.holdback / held_back[0]).exists(), "a drip", log_path)
        finally:
            code = _stop(proc, signal.SIGTERM)
    output = log_path.read_text()
    assert code == 0, output
    predictions, feedback = read_predictions(source), read_feedback(source)
    assert set(feedback["request_id"]) <= set(predictions["request_id"])
    assert set(feedback["actual"]) <= {0, 1}  # the flights' own `delayed` outcomes
    assert f"replaying {held_back[0]}" in output  # the first held-back day is "today"
    assert (trained_ws.landing / held_back[0]).exists()
    assert f"landed {held_back[0]}" in output
    assert "stopped: sent" in output
    assert "Traceback" not in output


def test_traffic_waits_for_a_missing_api_and_stops_on_ctrl_c(tmp_path):
    root = tmp_path / "ws"
    init_workspace(root)
    Workspace.open(root)
    log_path = tmp_path / "traffic.log"
    proc = _start(root, log_path, f"http://127.0.0.1:{free_port()}")
    try:
        _wait_for(
            lambda: "waiting for the prediction API" in log_path.read_text(), "a message", log_path
        )
        assert proc.poll() is None  # it waits, it does not give up
    finally:
        code = _stop(proc, signal.SIGINT)
    output = log_path.read_text()
    assert code == 0, output
    assert "stopped: sent 0 prediction(s)" in output
    assert "Traceback" not in output
