"""Test helpers for the scheduler: quick schedules, a service in a thread, a real process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from core.jobs import JobsDB
from core.workspace import Workspace

QUICK = {"poll_seconds": 0.2, "lock_ttl_seconds": 3, "stop_grace_seconds": 60}
"""Timings for tests: commands apply within 0.2 s, a dead leader's lease lapses after 3 s."""


def set_section(root: Path, key: str, value: dict) -> Workspace:
    """Rewrite one top-level section of the workspace's `workbench.yaml`."""
    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg[key] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Workspace.open(root)


def set_schedules(root: Path, **schedules) -> Workspace:
    """Rewrite the workspace's `schedules` section (QUICK timings plus the given keys)."""
    return set_section(root, "schedules", {**QUICK, **schedules})


def wait_for(predicate: Callable[[], object], timeout: float = 60, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; returns it, or fails on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def finished_run(db: JobsDB, command_id: int, timeout: float = 120) -> dict:
    """The run started by a command, once it has finished."""

    def done():
        runs = db.runs(command_id=command_id, limit=1)
        return runs[0] if runs and runs[0]["status"] != "running" else None

    return wait_for(done, timeout, f"the run of command {command_id}")


@contextlib.contextmanager
def running_service(ws: Workspace) -> Iterator:
    """A `SchedulerService` serving in a thread until the block ends (then stopped, joined)."""
    from scheduler.service import SchedulerService
    from scheduler.settings import SchedulerSettings

    service = SchedulerService(SchedulerSettings.from_workspace(Workspace.open(ws.root)))
    thread = threading.Thread(target=service.serve, name="test-scheduler", daemon=True)
    thread.start()
    try:
        wait_for(lambda: service.is_leader, 30, "the service to lead")
        yield service
    finally:
        service.stop()
        thread.join(120)
        assert not thread.is_alive(), "the scheduler did not stop"


@contextlib.contextmanager
def scheduler_process(root: Path, log_path: Path, **env: str) -> Iterator[subprocess.Popen]:
    """`python -m app.cli scheduler` over `root`; killed at exit if still running."""
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "scheduler", "-w", str(root)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        log.close()


def leader_pid(db: JobsDB) -> int | None:
    """The pid in the live lease holder's id (`host:pid:random`), or None."""
    holder = db.holder()
    if not holder or not holder["live"]:
        return None
    return int(holder["owner"].split(":")[1])
