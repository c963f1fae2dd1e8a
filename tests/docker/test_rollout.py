"""Blue/green rollouts and a rollback of the API containers through HAProxy's runtime API under
load: no request fails; a new container that fails its smoke test never gets traffic."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from scheduling import finished_run, running_service, set_schedules, set_section
from servers import free_port
from streamlit.testing.v1 import AppTest

from core import access
from core.audit import read_events
from core.config.edit import update_section
from core.deploy.engine import DeployError
from core.deploy.images import build_image
from core.deploy.rollout import ApiSpec, Deployment
from core.deploy.smoke import SmokeTest, SmokeTestFailed
from core.jobs import JobsDB
from core.workspace import Workspace

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]  # first image builds
PAGE = Path(__file__).resolve().parents[2] / "pages" / "serving.py"
CLIENTS = 6


class Load:
    """Clients posting /predict through the entry point until stopped; every outcome kept."""

    def __init__(self, url: str, batch: list[dict]) -> None:
        self.url, self.batch = url, batch
        self.ok = 0
        self.failures: list[str] = []
        self.versions: set[str] = set()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(CLIENTS)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers={"X-API-Key": "k"}, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    resp = client.post("/predict", json={"records": self.batch})
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if resp.status_code == 200:
                    self.ok += 1
                    self.versions.add(resp.json()["model"]["version"])
                else:
                    self.failures.append(f"{resp.status_code}: {resp.text[:200]}")

    def wait_for(self, more: int, timeout: float = 60) -> None:
        """Until `more` further requests were answered."""
        target, deadline = self.ok + more, time.monotonic() + timeout
        while self.ok < target and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.ok >= target, f"only {self.ok} answered; failures: {self.failures[:5]}"

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "deploy", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, COLUMNS="200"),
    )


@pytest.fixture(scope="session")
def haproxy_image(docker_client, base_image):
    """The entry point's image (Debian's HAProxy on the local base), also tagged `latest`."""
    return build_image("haproxy", base_image=base_image)


@pytest.fixture
def deployment(docker_client, haproxy_image, docker_ws, monkeypatch):
    """A deployment; git trusts the container-owned workspace (the smoke test reads its data
    versions from this root process, as its owner would)."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "safe.directory")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(docker_ws.root))
    name = f"test{free_port()}"
    dep = Deployment(name, port=free_port(), client=docker_client, entry_image=haproxy_image.tag)
    yield dep
    dep.remove()


def test_blue_green_rollout_and_rollback_under_load_fail_no_request(
    deployment, api_image, docker_ws, holdout_records
):
    spec = ApiSpec.for_workspace(api_image.tag, docker_ws.root, {"WORKBENCH_API_KEYS": "k"})
    steps: list[str] = []
    first = deployment.rollout(spec, steps.append, smoke=SmokeTest(docker_ws))
    assert first.previous is None and first.live.endswith("-blue"), steps
    assert first.smoke["rows"] == 100 and first.smoke["version"] == "1", first.smoke
    print(f"\nfirst rollout: {first.seconds:.1f} s; {[s for s in steps if 'smoke' in s]}")
    assert first.url.startswith("http://127.0.0.1:")
    batch = holdout_records[:5]
    with Load(first.url, batch) as load:
        load.wait_for(30)
        green = first.live[:-4] + "green"
        rolled = _cli(  # as an operator would
            "rollout",
            "--workspace",
            str(docker_ws.root),
            "--image",
            api_image.tag,
            "-e",
            "WORKBENCH_API_KEYS=k",
            "--name",
            deployment.name,
        )
        assert rolled.returncode == 0, rolled.stderr
        assert f"{green} serves {first.url}" in rolled.stdout, rolled.stdout
        assert "smoke test passed" in rolled.stderr and "traffic moved to" in rolled.stderr
        print(next(line for line in rolled.stderr.splitlines() if "smoke test passed" in line))
        assert deployment.live().name == green
        load.wait_for(30)
        back = _cli("rollback", "--name", deployment.name)
        assert back.returncode == 0, back.stderr
        assert f"rolled back: {first.live} serves" in back.stdout
        load.wait_for(30)
    print(
        f"\nrollout, rollout, rollback under {CLIENTS} clients: {load.ok} answered, "
        f"{len(load.failures)} failed"
    )
    assert load.failures == [], load.failures[:10]
    assert load.ok >= 90 and load.versions == {"1"}
    state = deployment.status()
    by_name = {row["name"]: row for row in state["containers"]}
    assert by_name[first.live]["live"] and by_name[first.live]["health"] == "healthy"
    assert by_name[green]["status"] == "exited"  # kept, stopped, for the next rollback
    haproxy = state["entry"]["state"]
    print(f"HAProxy: {haproxy}")
    assert haproxy["responses_5xx"] == 0 and haproxy["live"] == "blue"
    assert haproxy["servers"]["green"]["status"].startswith("MAINT")
    shown = _cli("status", "--name", deployment.name)
    assert shown.returncode == 0 and first.live in shown.stdout and "previous" in shown.stdout
    logs = _cli("logs", "entry", "--name", deployment.name, "--tail", "20")
    assert logs.returncode == 0, logs.stderr


def test_the_serving_page_shows_the_containers_and_rolls_back(
    deployment, api_image, docker_ws, monkeypatch
):
    spec = ApiSpec.for_workspace(api_image.tag, docker_ws.root, {"WORKBENCH_API_KEYS": "k"})
    blue = deployment.rollout(spec)
    green = deployment.rollout(spec)
    monkeypatch.setenv("WORKBENCH_HOME", str(docker_ws.root))
    monkeypatch.setenv("WORKBENCH_DEPLOYMENT", deployment.name)
    monkeypatch.setenv("WORKBENCH_API_URL", green.url)
    at = AppTest.from_file(str(PAGE), default_timeout=240)
    at.run()
    assert not at.exception
    table = at.dataframe[-1].value
    roles = dict(zip(table["container"], table["role"], strict=True))
    assert roles == {deployment.entry_name: "entry", green.live: "live", blue.live: "previous"}
    assert deployment.entry_name in at.selectbox(key="deploy_logs_of").options
    shown = deployment.logs(deployment.entry_name, 100) or "(no output yet)"
    assert at.code[-1].value == shown.rstrip("\n")  # HAProxy's recent lines (selected first)
    button = at.button(key="deploy_rollback")
    assert button.label == f"Roll back to {blue.live}"
    button.click().run()
    assert not at.exception and not at.error
    assert deployment.live().name == blue.live
    assert httpx.get(f"{green.url}/ready", timeout=10).status_code == 200


def test_a_container_that_never_gets_ready_is_not_switched_to(deployment, api_image, docker_ws):
    spec = ApiSpec.for_workspace(api_image.tag, docker_ws.root, {"WORKBENCH_API_KEYS": "k"})
    live = deployment.rollout(spec)
    broken = ApiSpec(api_image.tag, None, {"WORKBENCH_HOME": "/nowhere"})
    with pytest.raises(DeployError, match="exited|did not become healthy") as info:
        deployment.rollout(broken, timeout=120)
    assert "keeps serving" in str(info.value)
    assert httpx.get(f"{live.url}/ready", timeout=10).status_code == 200
    assert deployment.live().name == live.live


def test_a_container_failing_its_smoke_test_gets_no_traffic(
    deployment, api_image, docker_ws, holdout_records
):
    spec = ApiSpec.for_workspace(api_image.tag, docker_ws.root, {"WORKBENCH_API_KEYS": "k"})
    live = deployment.rollout(spec)
    impossible = SmokeTest(docker_ws, gate_ms_per_row=0.000001)  # 1 ns per row
    with Load(live.url, holdout_records[:5]) as load:
        load.wait_for(10)
        with pytest.raises(SmokeTestFailed, match="smoke test failed at p99 latency") as info:
            deployment.rollout(spec, smoke=impossible)
        load.wait_for(10)
    message = str(info.value)
    assert "above the latency gate 1e-06 ms" in message and f"{live.live} keeps serving" in message
    assert load.failures == [], load.failures[:5]
    assert deployment.live().name == live.live
    assert deployment._get(deployment.api_name("green")) is None  # removed, never enabled
    assert deployment.entry_state()["servers"]["green"]["requests"] == 0


def test_the_cli_records_a_failed_smoke_test_and_keeps_the_old_colour(
    deployment, api_image, docker_ws, monkeypatch
):
    spec = ApiSpec.for_workspace(api_image.tag, docker_ws.root, {"WORKBENCH_API_KEYS": "k"})
    live = deployment.rollout(spec)
    config = docker_ws.config_path.read_text()
    try:  # the latency gate of the workspace: impossible to meet over HTTP
        update_section(docker_ws.config_path, "gates", {"max_latency_ms_per_row": 0.000001})
        rolled = _cli(
            "rollout",
            "--workspace",
            str(docker_ws.root),
            "--image",
            api_image.tag,
            "-e",
            "WORKBENCH_API_KEYS=k",
            "--name",
            deployment.name,
        )
    finally:
        docker_ws.config_path.write_text(config)
    assert rolled.returncode != 0
    assert "smoke test failed at p99 latency" in rolled.stderr, rolled.stderr
    assert "gates.max_latency_ms_per_row" in rolled.stderr
    assert deployment.live().name == live.live
    assert httpx.get(f"{live.url}/ready", timeout=10).status_code == 200
    last = read_events(Workspace.open(docker_ws.root), [access.DEPLOY_ROLLOUT], limit=1)[0]
    assert last["outcome"] == "failed" and "smoke test failed at p99 latency" in last["reason"]


def test_the_scheduler_deploy_step_rolls_out_new_containers(
    deployment, api_image, docker_ws, holdout_records
):
    config = docker_ws.config_path.read_text()
    docker = {
        "enabled": True,
        "name": deployment.name,
        "port": deployment.port,
        "image": api_image.tag,
        "env": {"WORKBENCH_API_KEYS": "k"},
    }
    try:
        set_schedules(docker_ws.root)
        ws = set_section(docker_ws.root, "deploy", {"docker": docker})
        db = JobsDB.for_workspace(ws)
        with running_service(ws):  # as after two promotions
            first = finished_run(db, db.enqueue("deploy", "run", by="test"), timeout=600)
            second = finished_run(db, db.enqueue("deploy", "run", by="test"), timeout=600)
    finally:
        docker_ws.config_path.write_text(config)
    assert first["status"] == "ok" and second["status"] == "ok", (first, second)
    one, two = first["summary"], second["summary"]
    assert one["mode"] == "docker" and one["version"] == "1" and one["previous"] is None
    assert one["live"] == deployment.api_name("blue")
    assert two["live"] == deployment.api_name("green") and two["previous"] == one["live"]
    assert deployment.live().name == two["live"]
    answer = httpx.post(
        f"{two['url']}/predict",
        json={"records": holdout_records[:3]},
        headers={"X-API-Key": "k"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json()["model"]["version"] == "1"
