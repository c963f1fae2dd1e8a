"""Reach a Docker engine through the docker SDK, or say clearly why there is none.

Where the engine is: `DOCKER_HOST`, else the default socket, else the private engine that
`start_local_engine` (`make docker-engine`) runs on machines with no Docker service.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from core.errors import WorkbenchError

DEFAULT_SOCKET = Path("/var/run/docker.sock")
LOCAL_ROOT = Path("/var/lib/workbench-docker")
"""Data root of the private engine (images and build cache survive restarts)."""
LOCAL_RUN = Path("/run/workbench-docker")
"""Its exec root, socket and pid file."""
LOCAL_SOCKET = LOCAL_RUN / "docker.sock"
NO_ENGINE_HINT = (
    "start one (`make docker-engine`, or a Docker service) or set DOCKER_HOST; without it the "
    "in-process API (`workbench serve`) keeps hot-swapping promoted models"
)


class EngineUnavailable(WorkbenchError):
    """No Docker engine answers (or the docker SDK is missing); the message says what to do."""


class DeployError(WorkbenchError):
    """A build, rollout or rollback failed; what was serving before keeps serving."""


def engine_url() -> str:
    """The engine address: `DOCKER_HOST`, the default socket, else the private engine's."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    if DEFAULT_SOCKET.exists() or not LOCAL_SOCKET.exists():
        return f"unix://{DEFAULT_SOCKET}"
    return f"unix://{LOCAL_SOCKET}"


def connect(url: str | None = None, timeout: float = 120):
    """A pinged `docker.DockerClient`.

    Raises:
        EngineUnavailable: The SDK is not installed or nothing answers at the address.
    """
    try:
        import docker
    except ImportError:
        raise EngineUnavailable(
            "the docker SDK is not installed (pip install docker); " + NO_ENGINE_HINT
        ) from None
    url = url or engine_url()
    try:
        client = docker.DockerClient(base_url=url, timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means "no engine"
        raise EngineUnavailable(
            f"no Docker engine reachable at {url} ({_reason(exc)}): {NO_ENGINE_HINT}"
        ) from None
    return client


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def engine_info(client) -> dict:
    """Version and storage facts shown in status views."""
    version = client.version()
    info = client.info()
    return {
        "version": version.get("Version"),
        "api_version": version.get("ApiVersion"),
        "storage_driver": info.get("Driver"),
        "containers_running": info.get("ContainersRunning"),
        "images": info.get("Images"),
    }


def start_local_engine(
    root: Path = LOCAL_ROOT, run: Path = LOCAL_RUN, wait_seconds: float = 60
) -> subprocess.Popen:
    """Start a private `dockerd` (needs root and Debian's `docker.io`) and wait until it answers.

    Its data root is `root` (images and layers are kept between starts), its socket, exec root
    and pid file are under `run`. The caller owns the returned process (stop it with
    `stop_local_engine`).

    Raises:
        EngineUnavailable: dockerd is not installed or did not answer in time.
    """
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).is_file():
        raise EngineUnavailable(
            "dockerd is not installed: run `make system-deps` (apt-get install docker.io)"
        )
    run.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    socket = run / "docker.sock"
    log = (run / "dockerd.log").open("ab")
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(root / "data"), "--exec-root", str(run / "exec")]
        + ["--pidfile", str(run / "dockerd.pid"), "-H", f"unix://{socket}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (run / "dockerd.log").read_text(errors="replace")[-1500:]
            raise EngineUnavailable(f"dockerd exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(EngineUnavailable):
            connect(f"unix://{socket}", timeout=5).close()
            return proc
        time.sleep(0.5)
    stop_local_engine(proc)
    raise EngineUnavailable(f"dockerd did not answer on {socket} within {wait_seconds:.0f} s")


def stop_local_engine(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Stop a private engine started by `start_local_engine` (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
