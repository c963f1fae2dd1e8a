"""docker-compose.yml validates, binds to loopback, is health-checked; Dockerfiles lint clean;
the Grafana dashboard and Prometheus config refer to metrics and services that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from api.metrics import Metrics
from core.monitoring.prometheus import HELP

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "docker" / "compose.env.example"
ONE_SHOT = {"init", "minio-bucket"}


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'", pytrace=False)
    return path


def _compose(*args: str, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess:
    cmd = [_tool("docker-compose"), "-f", str(ROOT / "docker-compose.yml")]
    cmd += ["--env-file", str(env_file)] if env_file else []
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}  # nothing from this shell leaks in
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def model() -> dict:
    done = _compose("--profile", "s3", "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_compose_file_validates_with_the_example_environment():
    done = _compose("config", "--quiet")
    assert done.returncode == 0, done.stderr


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = _compose("config", "--quiet", env_file=empty)
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stderr


def test_every_port_is_on_loopback_and_every_service_is_health_checked(model):
    services = model["services"]
    assert {
        "postgres",
        "mlflow",
        "api",
        "entry",
        "ui",
        "scheduler",
        "prometheus",
        "grafana",
    } <= set(services)
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), name
    assert "ports" not in services["api"]  # replicas are reached through the entry point only
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["api"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {"pgdata", "mlartifacts", "workspace", "grafana", "prometheus"} <= set(model["volumes"])


def test_the_scale_path_urls_point_at_the_stack_services(model):
    api = model["services"]["api"]["environment"]
    assert api["WORKBENCH_TRACKING_URI"] == "http://mlflow:5000"
    assert api["WORKBENCH_PREDICTION_LOG_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in api["WORKBENCH_PREDICTION_LOG_URL"]
    mlflow = model["services"]["mlflow"]["environment"]
    assert mlflow["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert "minio" in model["services"]  # the S3-compatible store, behind the `s3` profile


def test_dockerfiles_are_hadolint_clean():
    files = sorted((ROOT / "docker").glob("*.Dockerfile"))
    assert {f.name for f in files} >= {
        "api.Dockerfile",
        "workbench.Dockerfile",
        "mlflow.Dockerfile",
    }
    done = subprocess.run([_tool("hadolint"), *map(str, files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _exported_names() -> set[str]:
    names = {m.name for m in Metrics().registry.collect()} | set(HELP)
    return names


def test_dashboard_queries_metrics_the_api_exports():
    dashboard = json.loads((ROOT / "docker/grafana/dashboards/workbench.json").read_text())
    datasource = yaml.safe_load(
        (ROOT / "docker/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(total|bucket|sum|count)$", "", n)
        for e in exprs
        for n in re.findall(r"workbench_[a-z_]+", e)
    }
    assert used <= _exported_names(), used - _exported_names()
    assert {
        "workbench_predictions",
        "workbench_predict_latency_seconds",
        "workbench_model_info",
        "workbench_drift_score",
        "workbench_requests",
    } <= used
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {datasource["uid"]}


def test_prometheus_scrapes_every_api_replica():
    config = yaml.safe_load((ROOT / "docker/prometheus/prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "workbench-api")
    assert job["dns_sd_configs"][0]["names"] == ["api"]
    assert job["dns_sd_configs"][0]["port"] == 8000
