"""The compose stack's scale path, for real: PostgreSQL, MLflow (PostgreSQL backend store,
artifact proxy) and two API replicas behind the entry point (HAProxy, found through Docker's DNS,
checked on /ready), logging predictions to PostgreSQL.

Prometheus, Grafana and MinIO come from public registries that these machines cannot reach;
PostgreSQL is replaced by a stand-in image with the official image's environment contract
(`tests/docker/postgres/`). The demo workspace (config + data) is bind-mounted instead of the
`init` service's volume, and the champion is trained from the host against the stack's MLflow.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from servers import free_port
from test_compose import ROOT, _tool
from workspaces import set_training

from core.deploy.images import build_image
from core.training.train import train
from core.workspace import Workspace

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]  # first image builds
POSTGRES_TAG = "workbench-test-postgres:15"
PASSWORD = "smoke-test-password"
OVERRIDE = """
services:
  api:
    volumes: !override
      - {workspace}:/workspace:ro
    depends_on: !override
      mlflow:
        condition: service_healthy
      postgres:
        condition: service_healthy
"""


@pytest.fixture(scope="module")
def images(docker_client, base_image, api_image) -> dict[str, str]:
    docker_client.images.build(
        path=str(Path(__file__).parent / "postgres"),
        tag=POSTGRES_TAG,
        buildargs={"BASE_IMAGE": base_image},
        network_mode="host",  # apt reaches the Debian mirror
        rm=True,
    )
    mlflow = build_image("mlflow", base_image=base_image)
    haproxy = build_image("haproxy", base_image=base_image)
    return {
        "postgres": POSTGRES_TAG,
        "mlflow": mlflow.tag,
        "api": api_image.tag,
        "haproxy": haproxy.tag,
    }


@pytest.fixture(scope="module")
def stack(images, versioned_template, tmp_path_factory):
    """`up` postgres + mlflow; yields a runner of compose commands; `down -v` at the end."""
    folder = tmp_path_factory.mktemp("compose")
    ws = folder / "ws"
    shutil.copytree(versioned_template, ws, symlinks=True)
    ports = {name: free_port() for name in ("API_PORT", "MLFLOW_PORT", "POSTGRES_PORT")}
    env = {
        "POSTGRES_PASSWORD": PASSWORD,
        "WORKBENCH_ADMIN_KEY": "admin",
        "WORKBENCH_API_KEYS": "k",
        "GRAFANA_ADMIN_PASSWORD": "unused",
        "WORKBENCH_ADMIN_USER": "unused",  # the UI's admin: required, the UI is not started
        "WORKBENCH_ADMIN_PASSWORD_HASH": "unused",
        "POSTGRES_IMAGE": images["postgres"],
        "WORKBENCH_MLFLOW_IMAGE": images["mlflow"],
        "WORKBENCH_API_IMAGE": images["api"],
        "WORKBENCH_HAPROXY_IMAGE": images["haproxy"],
        "API_REPLICAS": "2",
        "WORKBENCH_POLL_SECONDS": "1",
        **{k: str(v) for k, v in ports.items()},
    }
    (folder / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (folder / "override.yml").write_text(OVERRIDE.format(workspace=ws))
    project = f"wbsmoke{ports['API_PORT']}"
    base = [_tool("docker-compose"), "-p", project, "--env-file", str(folder / "stack.env")]
    base += ["-f", str(ROOT / "docker-compose.yml"), "-f", str(folder / "override.yml")]

    def compose(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(
            base + list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=dict(os.environ),
        )
        assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done

    try:
        compose("up", "-d", "--wait", "postgres", "mlflow")
        yield compose, Workspace.open(ws), ports
    finally:
        logs = subprocess.run(base + ["logs", "--tail", "30"], capture_output=True, text=True)
        print(logs.stdout[-6000:])
        subprocess.run(base + ["down", "-v", "--timeout", "5"], capture_output=True)


def test_api_replicas_serve_a_champion_from_mlflow_on_postgres_and_log_to_postgres(
    stack, holdout_records, monkeypatch
):
    compose, ws, ports = stack
    mlflow_url = f"http://127.0.0.1:{ports['MLFLOW_PORT']}"
    assert httpx.get(f"{mlflow_url}/health", timeout=10).status_code == 200
    # The champion, trained here and tracked by the stack's server: runs in PostgreSQL,
    # artifacts uploaded through the server's proxy into its volume.
    monkeypatch.setenv("WORKBENCH_TRACKING_URI", mlflow_url)
    set_training(ws.root, candidates=["logistic_regression"])
    result = train(Workspace.open(ws.root))
    assert result.registered["version"] == "1"
    compose("up", "-d", "--wait", "api", "entry")
    url = f"http://127.0.0.1:{ports['API_PORT']}"
    for _ in range(10):
        resp = httpx.post(
            f"{url}/predict",
            json={"records": holdout_records[:3]},
            headers={"X-API-Key": "k"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["model"]["version"] == "1"
    servers = _haproxy_servers(compose)  # both replicas UP behind it, both answered
    assert sorted(s["status"] for s in servers.values()) == ["UP", "UP"], servers
    assert all(int(s["stot"]) >= 1 for s in servers.values()), servers
    assert all(int(s["hrsp_5xx"]) == 0 for s in servers.values()), servers
    compose("up", "-d", "--wait", "--scale", "api=3", "--no-recreate", "api", "entry")
    deadline = time.monotonic() + 90  # the third replica is found through Docker's DNS,
    while time.monotonic() < deadline:  # then UP after two passed health checks
        servers = _haproxy_servers(compose)
        if len(servers) == 3 and all(s["status"] == "UP" for s in servers.values()):
            break
        time.sleep(1)
    assert sorted(s["status"] for s in servers.values()) == ["UP", "UP", "UP"], servers
    metrics = compose(
        "exec",
        "-T",
        "entry",
        "sh",
        "-c",
        "printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' | socat -t 5 - TCP:127.0.0.1:8404",
    ).stdout
    assert 'haproxy_backend_active_servers{proxy="api"} 3' in metrics
    log = sa.create_engine(
        f"postgresql+psycopg://workbench:{PASSWORD}@127.0.0.1:{ports['POSTGRES_PORT']}/workbench"
    )
    deadline, rows = time.monotonic() + 60, 0
    while time.monotonic() < deadline and rows < 30:
        time.sleep(1)
        with log.connect() as conn:
            if sa.inspect(conn).has_table("predictions"):
                rows = conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar()
    log.dispose()
    assert rows == 30  # 10 requests x 3 records, from both replicas, in one shared log


def _haproxy_servers(compose) -> dict[str, dict]:
    """The entry's `api` backend servers that have an address (slots of server-template)."""
    stat = compose(
        "exec",
        "-T",
        "entry",
        "sh",
        "-c",
        "echo 'show stat' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock",
    ).stdout
    rows = csv.DictReader(io.StringIO(stat.lstrip("# ")))
    return {
        r["svname"]: r
        for r in rows
        if r["pxname"] == "api"
        and r["svname"] not in ("FRONTEND", "BACKEND")
        and not r["status"].startswith("MAINT")
    }
