"""A real `workbench serve` process on loopback, for the API and UI tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

READY_TIMEOUT = 120  # loading MLflow and the model takes a while on a busy CI machine


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def api_server(
    root: Path, poll_seconds: float = 1, **env: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `python -m app.cli serve` over the workspace `root` until it is ready.

    Args:
        root: The workspace (it needs a champion to become ready).
        poll_seconds: The alias poll interval.
        **env: Extra environment, e.g. `WORKBENCH_API_KEYS="k"`.

    Yields:
        The base URL and the process (killed on exit if it still runs).
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        + ["--poll-seconds", str(poll_seconds)],
        env=dict(os.environ, WORKBENCH_HOME=str(root), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.time() + READY_TIMEOUT
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.5)
    pytest.fail("server did not become ready")


@contextlib.contextmanager
def mlflow_models_serve(ws) -> Iterator[str]:
    """`mlflow models serve` on the workspace's champion (the peer of the API); its base URL."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=ws.tracking_uri,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    model = f"models:/{ws.config.model_name}@champion"
    proc = subprocess.Popen(
        [str(bin_dir / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local"]
        + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + READY_TIMEOUT
        while True:
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "mlflow models serve did not answer /ping"
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
