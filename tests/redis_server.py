"""A private, throwaway `redis-server` for tests (no system service, nothing written to disk).

It listens on 127.0.0.1 and a free port, runs in a fresh temp folder with persistence off
(`--save ''`, `--appendonly no`), and is stopped and deleted on exit.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "redis-server was not found: run `make system-deps` (apt-get install redis-server)"
READY_TIMEOUT = 20


class RedisUnavailable(RuntimeError):
    """redis-server is missing or did not start."""


@dataclass
class RedisServer:
    """A running throwaway redis-server."""

    url: str
    """`redis://127.0.0.1:<port>/0`."""
    port: int
    proc: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    """Whether the server answers PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def throwaway_redis(port: int | None = None) -> Iterator[RedisServer]:
    """Start, yield, then stop and delete a private redis-server (on `port`, else a free one).

    Raises:
        RedisUnavailable: redis-server is not installed or did not answer in time.
    """
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise RedisUnavailable(INSTALL_HINT)
    folder = Path(tempfile.mkdtemp(prefix="workbench-redis-"))
    port = port or _free_port()
    log = folder / "redis.log"
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [binary, *args, "--dir", str(folder), "--logfile", str(log)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + READY_TIMEOUT
        while not _answers(port):
            if proc.poll() is not None or time.time() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RedisUnavailable(f"redis-server did not start on port {port}\n{tail}")
            time.sleep(0.05)
        yield RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port, proc=proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
