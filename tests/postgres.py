"""A private, throwaway PostgreSQL cluster for tests (`initdb` + `pg_ctl`, no system service).

PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` OS user
(created by Debian's `postgresql` package) and every server command runs through `runuser`.
The cluster lives in a fresh folder under the system temp dir (pytest's temp dirs are private
to root), listens on 127.0.0.1 and a free port with its socket in that folder, trusts local
connections, and is stopped and deleted on exit.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found: run `make system-deps` "
    "(apt-get install postgresql), or set WORKBENCH_PG_BIN to the folder holding them"
)


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the cluster did not start."""


@dataclass
class Cluster:
    """A running throwaway cluster."""

    url: str
    """SQLAlchemy URL of its `postgres` database (`postgresql+psycopg://...`)."""
    port: int
    data_dir: Path
    bin_dir: Path
    _run_as: list[str]

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `pg_ctl -D <data_dir> ...` as the cluster's owner."""
        cmd = [*self._run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]
        return subprocess.run(
            cmd, cwd=self.data_dir.parent, capture_output=True, text=True, check=check
        )

    def start(self) -> None:
        """Start (or restart after `stop`) the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.data_dir.parent} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        log = self.data_dir.parent / "server.log"
        done = self.pg_ctl("-o", options, "-l", str(log), "-w", "-t", "60", "start", check=False)
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"pg_ctl start failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )

    def stop(self) -> None:
        """Stop the server (fast: open connections are terminated)."""
        self.pg_ctl("-m", "fast", "-w", "stop", check=False)


def find_bin_dir() -> Path:
    """The folder of `initdb` and `pg_ctl`: `WORKBENCH_PG_BIN`, Debian's newest, else PATH.

    Raises:
        PostgresUnavailable: None found (the message says how to install them).
    """
    candidates = []
    if env := os.environ.get("WORKBENCH_PG_BIN"):
        candidates.append(Path(env))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    debian.sort(key=lambda p: [int(n) for n in re.findall(r"\d+", p)], reverse=True)
    candidates += [Path(p) for p in debian]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailable(INSTALL_HINT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _owner() -> tuple[list[str], int | None, int | None]:
    """How to run server commands: directly, or as `postgres` via runuser when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        msg = f"running as root and there is no `postgres` user; {INSTALL_HINT}"
        raise PostgresUnavailable(msg) from None
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--"], user.pw_uid, user.pw_gid


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """Create, start, yield, then stop and delete a private PostgreSQL cluster.

    Raises:
        PostgresUnavailable: Binaries missing, `initdb` failed or the server did not start.
    """
    bin_dir = find_bin_dir()
    run_as, uid, gid = _owner()
    root = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    try:
        if uid is not None:
            os.chown(root, uid, gid)
        data = root / "data"
        initdb = subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
            + ["-E", "UTF8", "--locale=C", "--no-sync"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if initdb.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {initdb.stderr.strip()}")
        for attempt in range(3):  # the free port can be taken between probing and binding
            port = _free_port()
            cluster = Cluster(
                f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                port,
                data,
                bin_dir,
                run_as,
            )
            try:
                cluster.start()
                break
            except PostgresUnavailable:
                if attempt == 2:
                    raise
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
