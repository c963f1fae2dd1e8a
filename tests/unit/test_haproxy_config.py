"""The entry point's HAProxy configuration is valid for Debian's HAProxy (the image's version).

The behaviour (balancing, health checks, blue/green through the runtime API) is tested with a
real dockerd in tests/docker/test_rollout.py and tests/docker/test_compose_stack.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HAPROXY = Path(__file__).resolve().parents[2] / "docker" / "haproxy"


@pytest.fixture(scope="module")
def haproxy() -> str:
    path = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(path).is_file():
        pytest.fail("haproxy is not installed: `make system-deps` installs it", pytrace=False)
    return path


@pytest.mark.parametrize("backend", ["replicas.cfg", "colors.cfg"])
def test_each_backend_makes_a_valid_configuration(haproxy, backend):
    done = subprocess.run(
        [haproxy, "-c", "-f", str(HAPROXY / "haproxy.cfg"), "-f", str(HAPROXY / backend)],
        capture_output=True,
        text=True,
        env=dict(os.environ, DEPLOYMENT="check"),
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Configuration file is valid" in done.stdout + done.stderr
    alerts = [line for line in done.stderr.splitlines() if "[ALERT]" in line]
    assert alerts == []


def test_the_prometheus_exporter_is_built_in(haproxy):
    built = subprocess.run([haproxy, "-vv"], capture_output=True, text=True, timeout=30).stdout
    assert "+PROMEX" in built or "Prometheus exporter" in built
    config = (HAPROXY / "haproxy.cfg").read_text()
    assert "use-service prometheus-exporter if { path /metrics }" in config
