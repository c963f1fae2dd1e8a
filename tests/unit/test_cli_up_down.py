"""`workbench up` twice starts one set of servers; `workbench down` stops what `up` started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import free_port

from app.cli.processes import (
    SERVICES,
    Service,
    is_alive,
    pid_path,
    record,
    running,
    running_services,
    stop,
)
from core.audit import read_events
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

CLI = [sys.executable, "-m", "app.cli"]
TIMEOUT = 120  # seconds any one command may take on a busy machine


@pytest.fixture
def ws(tmp_path):
    """A workspace without data: `up` starts the servers but no training."""
    root = tmp_path / "ws"
    init_workspace(root)
    workspace = Workspace.open(root)
    yield workspace
    # whatever a failed test left running
    stop(workspace, list(running_services(workspace).values()), timeout=5)


def _run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=TIMEOUT)


def _wait_for(predicate, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_pid_file_of_another_process_is_stale_and_removed(ws):
    record(ws, Service("api", os.getpid(), ["not", "this", "command"], "2024-01-01T00:00:00"))

    assert running(ws, "api") is None
    assert not pid_path(ws, "api").exists()


@pytest.mark.slow
def test_up_twice_starts_one_set_and_down_stops_it(ws):
    ws.holdback.mkdir(parents=True)  # a demo workspace: `up` replays its days as traffic too
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root))
    ports = ["--port", str(free_port()), "--api-port", str(free_port())]
    first = subprocess.Popen(  # the UI in the foreground, as `make up` runs it
        [*CLI, "up", *ports], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(lambda: running(ws, "ui") is not None or first.poll() is not None, "the UI")
        assert first.poll() is None, first.stdout.read()
        started = {name: running(ws, name) for name in ("api", "scheduler", "ui", "traffic")}
        assert all(started.values()), started
        api_url = f"WORKBENCH_API_URL=http://127.0.0.1:{ports[3]}".encode()
        for name in ("scheduler", "ui", "traffic"):  # each finds the API `up` started
            environ = Path(f"/proc/{started[name].pid}/environ").read_bytes().split(b"\0")
            assert api_url in environ, name

        again = _run("up", "--detach", *ports, env=env)

        assert again.returncode == 0, again.stdout + again.stderr
        assert "already running" in again.stdout
        for service in started.values():
            assert f"pid {service.pid}" in again.stdout
        assert {n: running(ws, n) for n in started} == started  # nothing new was started

        down = _run("down", env=env)

        assert down.returncode == 0, down.stdout + down.stderr
        assert "stopped" in down.stdout
        assert first.wait(timeout=TIMEOUT) == 0  # its UI was stopped: `up` ends cleanly
        assert not any(is_alive(s) for s in started.values())
        assert not any(pid_path(ws, name).exists() for name in SERVICES)
        assert "nothing started by `workbench up`" in _run("down", env=env).stdout
        events = [(e["action"], e["target"], e["source"]) for e in read_events(ws)]
        # newest first: the `down`, one `up` that started four services (the second started none)
        assert events == [
            ("stop services", "api, scheduler, ui, traffic", "cli"),
            ("start services", "api, scheduler, ui, traffic", "cli"),
        ]
        traffic_log = (ws.state / "traffic.log").read_text()
        assert "waiting for the prediction API" in traffic_log or "champion" in traffic_log
        assert "stopped: sent 0 prediction(s)" in traffic_log  # SIGTERM ended it cleanly
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


@pytest.mark.slow
def test_up_no_traffic_starts_no_replay_in_a_demo_workspace(ws):
    ws.holdback.mkdir(parents=True)
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root))
    ports = ["--port", str(free_port()), "--api-port", str(free_port())]

    started = _run("up", "--detach", "--no-traffic", *ports, env=env)

    assert started.returncode == 0, started.stdout + started.stderr
    assert {"api", "scheduler", "ui"} <= running_services(ws).keys()
    assert running(ws, "traffic") is None
    assert _run("down", env=env).returncode == 0
