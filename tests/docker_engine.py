"""A Docker engine for the tests: the one reachable already, else a private `dockerd`.

`DOCKER_HOST` or the default socket is used when an engine answers there. Otherwise a
`dockerd` (Debian's `docker.io`, installed by `make system-deps`) is started with its own data
root, exec root and socket (`core.deploy.engine.start_local_engine`); `DOCKER_HOST` points at it
for the session (so CLI subprocesses find it), and it is stopped at the end. Its data root
survives, so the base image and the build cache are reused by the next session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

from core.deploy.engine import (
    LOCAL_SOCKET,
    EngineUnavailable,
    connect,
    engine_url,
    start_local_engine,
    stop_local_engine,
)

INSTALL_HINT = "run `make system-deps` (apt-get install docker.io debootstrap)"


@contextlib.contextmanager
def docker_engine() -> Iterator:
    """Yield a pinged docker client; start (and later stop) a private engine when needed.

    Raises:
        EngineUnavailable: No engine answers and dockerd is missing or does not start.
    """
    try:
        client = connect()
    except EngineUnavailable:
        client = None
    if client is not None:
        previous = os.environ.get("DOCKER_HOST")
        os.environ["DOCKER_HOST"] = engine_url()  # subprocesses (docker-compose) use it too
        try:
            yield client
        finally:
            client.close()
            _restore(previous)
        return
    if shutil.which("dockerd") is None and not os.path.exists("/usr/sbin/dockerd"):
        raise EngineUnavailable(f"no Docker engine and dockerd is not installed: {INSTALL_HINT}")
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine reachable and starting dockerd needs root")
    proc = start_local_engine()
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = f"unix://{LOCAL_SOCKET}"
    try:
        client = connect()
        try:
            yield client
        finally:
            client.close()
    finally:
        _restore(previous)
        stop_local_engine(proc)


def _restore(docker_host: str | None) -> None:
    if docker_host is None:
        os.environ.pop("DOCKER_HOST", None)
    else:
        os.environ["DOCKER_HOST"] = docker_host
