"""The background processes of `workbench up`: started detached, recorded, stopped by `down`.

Each one has a pid file `<workspace>/.workbench/<name>.pid` (JSON: pid, url, argv, start time,
whether it leads its own process group). A pid file counts only while its process is alive and
still runs the recorded command line, so a stale file (a crash, a reboot, a reused pid) is
ignored and removed; `up` then starts the service again instead of trusting it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.files import atomic_write_json, utc_now_iso

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.workspace import Workspace

SERVICES = ("api", "scheduler", "ui", "train", "traffic")
"""What `up` may start, in the order `down` lists them (`train`: the first training, `traffic`:
the demo's traffic replay)."""


@dataclass(frozen=True)
class Service:
    """One recorded background process."""

    name: str
    pid: int
    argv: list[str]
    started: str
    url: str | None = None
    group: bool = True
    """True when the process leads its own session (stop signals go to its whole group)."""

    def line(self) -> str:
        """`api: pid 123, http://127.0.0.1:8000` for messages."""
        return f"{self.name}: pid {self.pid}" + (f", {self.url}" if self.url else "")


def pid_path(ws: Workspace, name: str) -> Path:
    """The pid file of service `name`."""
    return ws.state / f"{name}.pid"


def record(ws: Workspace, service: Service) -> None:
    """Write the pid file of `service` (atomically)."""
    atomic_write_json(pid_path(ws, service.name), asdict(service))


def forget(ws: Workspace, service: Service) -> None:
    """Remove the pid file of `service` unless it already names another process."""
    current = _read(pid_path(ws, service.name))
    if current is None or current.pid == service.pid:
        pid_path(ws, service.name).unlink(missing_ok=True)


def start_detached(
    ws: Workspace,
    name: str,
    argv: list[str],
    log_path: Path,
    url: str | None = None,
    env: dict[str, str] | None = None,
    log_mode: str = "a",
) -> Service:
    """Start `argv` in its own session, output to `log_path`, and record its pid file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open(log_mode) as log_file:
        proc = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    service = Service(name, proc.pid, argv, utc_now_iso("seconds"), url)
    record(ws, service)
    return service


def running(ws: Workspace, name: str) -> Service | None:
    """The live service recorded under `name`, or None (a stale pid file is removed)."""
    path = pid_path(ws, name)
    service = _read(path)
    if service is None or not is_alive(service):
        path.unlink(missing_ok=True)
        return None
    return service


def running_services(ws: Workspace) -> dict[str, Service]:
    """Every live service `up` recorded, by name."""
    return {name: s for name in SERVICES if (s := running(ws, name)) is not None}


def is_alive(service: Service) -> bool:
    """True while the process exists, is not a zombie and runs the recorded command line."""
    try:
        os.kill(service.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: the pid was reused
        return False
    proc = Path(f"/proc/{service.pid}")
    if not proc.is_dir():  # no procfs (macOS): the signal check is all there is
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        argv = (proc / "cmdline").read_bytes().split(b"\0")[:-1]
    except (OSError, IndexError):
        return False
    return state != "Z" and [a.decode(errors="replace") for a in argv] == service.argv


def stop(ws: Workspace, services: list[Service], timeout: float = 20) -> None:
    """SIGTERM each service (its group when it leads one), SIGKILL what outlives `timeout`."""
    _signal(services, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    left = list(services)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [s for s in left if is_alive(s)]
    _signal(left, signal.SIGKILL)
    for service in services:
        forget(ws, service)


def _signal(services: list[Service], sig: int) -> None:
    for service in services:
        try:
            if service.group:
                os.killpg(service.pid, sig)
            else:
                os.kill(service.pid, sig)
        except ProcessLookupError:
            pass


def _read(path: Path) -> Service | None:
    try:
        return Service(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
