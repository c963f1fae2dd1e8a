"""The Prometheus and Alertmanager images, built on the local Debian base, and compose running
them: the config and rules load inside the image, the rule tests pass there, Alertmanager's
config loads, both run as the non-root user, and `docker compose up` starts them healthy with
Prometheus's rules loaded and Alertmanager found."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest
from servers import free_port
from test_compose import ROOT, _tool

from core.deploy.images import build_image

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]
ROLES = ("prometheus", "alertmanager")


@pytest.fixture(scope="module")
def images(docker_client, base_image) -> dict[str, str]:
    """Both images, built as `workbench deploy build --role ROLE` builds them."""
    return {role: build_image(role, base_image=base_image).tag for role in ROLES}


def _run(client, image: str, *command: str, entrypoint: str | None = None, **env) -> str:
    return client.containers.run(
        image, list(command), entrypoint=entrypoint, environment=env, remove=True
    ).decode()


def test_the_prometheus_image_loads_its_config_and_rules_and_passes_their_tests(
    docker_client, images
):
    image = images["prometheus"]
    assert docker_client.images.get(image).attrs["Config"]["User"] == "10001:10001"
    out = _run(docker_client, image, "check", "config", "/etc/prometheus/prometheus.yml",
               entrypoint="promtool")  # fmt: skip
    assert "SUCCESS: 1 rule files found" in out and "SUCCESS: 7 rules found" in out, out
    tests = _run(docker_client, image, "test", "rules", "/etc/prometheus/tests/workbench_test.yml",
                 entrypoint="promtool")  # fmt: skip
    assert "SUCCESS" in tests and "FAILED" not in tests, tests
    assert _run(docker_client, image, "-u", entrypoint="id").strip() == "10001"
    assert "prometheus, version 2." in _run(docker_client, image, "--version")


def test_the_alertmanager_image_loads_its_config_and_needs_the_admin_key(docker_client, images):
    import docker

    image = images["alertmanager"]
    assert docker_client.images.get(image).attrs["Config"]["User"] == "10001:10001"
    out = _run(docker_client, image, "check-config", "/etc/alertmanager/alertmanager.yml",
               entrypoint="amtool")  # fmt: skip
    assert "SUCCESS" in out and "2 receivers" in out, out
    with pytest.raises(docker.errors.ContainerError) as refused:
        _run(docker_client, image, "--version")
    assert b"WORKBENCH_ADMIN_KEY" in refused.value.stderr
    assert "alertmanager, version 0." in _run(
        docker_client, image, "--version", WORKBENCH_ADMIN_KEY="k"
    )


def _wait(url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5).json()
        except (httpx.HTTPError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_compose_runs_prometheus_with_its_rules_and_alertmanager(images, tmp_path):
    ports = {"PROMETHEUS_PORT": free_port(), "ALERTMANAGER_PORT": free_port()}
    env = {
        "POSTGRES_PASSWORD": "unused",
        "WORKBENCH_ADMIN_KEY": "compose-admin-key",
        "GRAFANA_ADMIN_PASSWORD": "unused",
        "WORKBENCH_ADMIN_USER": "unused",
        "WORKBENCH_ADMIN_PASSWORD_HASH": "unused",
        "WORKBENCH_PROMETHEUS_IMAGE": images["prometheus"],
        "WORKBENCH_ALERTMANAGER_IMAGE": images["alertmanager"],
        **{k: str(v) for k, v in ports.items()},
    }
    (tmp_path / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    project = f"wbmonitor{ports['PROMETHEUS_PORT']}"
    base = [_tool("docker-compose"), "-p", project, "--env-file", str(tmp_path / "stack.env")]
    base += ["-f", str(ROOT / "docker-compose.yml")]

    def compose(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            base + list(args), capture_output=True, text=True, timeout=300, cwd=ROOT,
            env=dict(os.environ),
        )  # fmt: skip
        assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done

    try:
        compose("up", "-d", "--wait", "--no-build", "prometheus", "alertmanager")
        prom = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}"
        groups = _wait(f"{prom}/api/v1/rules")["data"]["groups"]
        assert sum(len(g["rules"]) for g in groups) == 7
        found = _wait(f"{prom}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        assert [a["url"] for a in found] == ["http://alertmanager:9093/api/v2/alerts"]
        am = f"http://127.0.0.1:{ports['ALERTMANAGER_PORT']}"
        status = _wait(f"{am}/api/v2/status")
        assert "http://entry:8000/admin/alerts" in status["config"]["original"]
        assert "compose-admin-key" not in status["config"]["original"]
        key = compose("exec", "-T", "alertmanager", "stat", "-c", "%a %u",
                      "/run/alertmanager/admin_key")  # fmt: skip
        assert key.stdout.split() == ["600", "10001"]
    finally:
        logs = subprocess.run(base + ["logs", "--tail", "20"], capture_output=True, text=True)
        print(logs.stdout[-4000:])
        subprocess.run(base + ["down", "-v", "--timeout", "5"], capture_output=True)
