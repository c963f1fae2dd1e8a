"""Real Debian `prometheus` and `prometheus-alertmanager` processes on loopback, for the tests.

Both fail (never skip) when the binary is missing: `make system-deps` installs them.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from servers import free_port

READY_TIMEOUT = 60


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: make system-deps", pytrace=False)
    return path


@contextlib.contextmanager
def _process(cmd: list[str], url: str, log: Path) -> Iterator[str]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        deadline = time.time() + READY_TIMEOUT
        while True:
            assert proc.poll() is None, f"{cmd[0]} exited: {log.read_text()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            if time.time() > deadline:
                pytest.fail(f"{cmd[0]} not ready in {READY_TIMEOUT} s: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def prometheus_server(
    folder: Path,
    api_targets: list[str],
    rule_files: list[Path] = (),
    alertmanager: str | None = None,
    interval: str = "1s",
) -> Iterator[str]:
    """Run Prometheus scraping `api_targets` (`host:port`) as job `workbench-api`.

    Args:
        folder: Where its config, TSDB and log go.
        api_targets: The API processes to scrape.
        rule_files: Rule files to load (evaluated every `interval`).
        alertmanager: `host:port` of an Alertmanager to send alerts to.
        interval: Scrape and evaluation interval.

    Yields:
        Its base URL.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {"job_name": "workbench-api", "static_configs": [{"targets": api_targets}]}
        ],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    cmd = [
        _binary("prometheus"),
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    with _process(cmd, f"http://127.0.0.1:{port}", folder / "prometheus.log") as url:
        yield url


@contextlib.contextmanager
def alertmanager_server(folder: Path, config: Path) -> Iterator[str]:
    """Run Alertmanager with `config` (no cluster peers); yields its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [
        _binary("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: a single instance
    ]
    with _process(cmd, f"http://127.0.0.1:{port}", folder / "alertmanager.log") as url:
        yield url


def query(url: str, promql: str) -> list[dict]:
    """An instant query; fails the test on anything but status success."""
    resp = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "success", (promql, body)
    return body["data"]["result"]


def wait_for(url: str, promql: str, timeout: float = 30) -> list[dict]:
    """Poll an instant query until it returns a series (fails the test after `timeout` s)."""
    deadline = time.time() + timeout
    while True:
        result = query(url, promql)
        if result:
            return result
        if time.time() > deadline:
            pytest.fail(f"no result for {promql!r} after {timeout} s")
        time.sleep(0.5)
