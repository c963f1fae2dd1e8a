"""A real Prometheus (Debian's) scrapes a real API process; PromQL sees what the API did.

One stack per module: a trained demo workspace with a drift check on shifted traffic and a
failed scheduler run, `workbench serve` over it, and Prometheus scraping it every second with
the alerting rules of docker/prometheus/rules/ loaded. The Grafana dashboard's queries run on
the same Prometheus. The last test adds a real Alertmanager with docker/alertmanager's routing:
an alert that fires reaches the API's webhook and becomes a workbench incident, and resolves it.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import httpx
import pytest
import yaml
from monitoring_helpers import api_records, edit_config, holdout, send_feedback, shifted_traffic
from monitoring_stack import alertmanager_server, prometheus_server, query, wait_for
from servers import api_server
from workspaces import copy_workspace

from core.incidents import read_incidents
from core.jobs import JobsDB
from core.monitoring.check import run_check
from core.monitoring.prometheus import latest_gauges
from core.workspace import Workspace

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "docker" / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "docker" / "grafana" / "dashboards").glob("*.json"))
REQUESTS, PER_REQUEST = 6, 20


@pytest.fixture(scope="module")
def stack(trained_template, tmp_path_factory):
    """(Prometheus URL, API URL, workspace, drift share of the check) after the traffic."""
    root = copy_workspace(trained_template, tmp_path_factory.mktemp("prometheus") / "ws")
    ws = Workspace.open(root)
    ids = shifted_traffic(ws, rows=300)
    X, y = holdout(ws)
    send_feedback(ws, ids, y.iloc[:300])
    records = api_records(X.iloc[:PER_REQUEST])
    check = run_check(ws, "all", notify=False, report=False)
    assert check.skipped is None and check.drift.share > 0, check.skipped
    db = JobsDB.for_workspace(ws)
    db.finish_run(db.start_run("data_pipeline", "schedule", "test"), "failed", error="boom")

    with api_server(root, WORKBENCH_API_KEYS="k") as (api, _):
        target = api.removeprefix("http://")
        folder = tmp_path_factory.mktemp("prometheus-server")
        with prometheus_server(folder, [target], rule_files=RULES) as prom:
            wait_for(prom, 'up{job="workbench-api"} == 1')
            before = query(prom, "sum(workbench_predictions_total)")
            assert before == [], before  # no prediction yet: the counter has no series
            for _ in range(REQUESTS):
                resp = httpx.post(
                    f"{api}/predict",
                    json={"records": records},
                    headers={"X-API-Key": "k"},
                    timeout=30,
                )
                assert resp.status_code == 200, resp.text
            # two scrapes after the traffic, so rate() has an increase to see
            wait_for(prom, f"sum(workbench_predictions_total) == {REQUESTS * PER_REQUEST}")
            wait_for(prom, "sum(rate(workbench_predict_latency_seconds_count[1m])) > 0")
            yield prom, api, ws, latest_gauges(ws)["workbench_drift_share"][()]


def _value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_prometheus_scrapes_the_api_and_sees_its_predictions_latency_and_model(stack):
    prom, api, _, _ = stack
    assert _value(query(prom, 'up{job="workbench-api"}')) == 1
    counted = _value(query(prom, 'sum(workbench_predictions_total{variant="champion"})'))
    assert counted == REQUESTS * PER_REQUEST
    p99 = _value(
        query(
            prom,
            "histogram_quantile(0.99, sum by (le) "
            "(rate(workbench_predict_latency_seconds_bucket[1m])))",
        )
    )
    assert math.isfinite(p99) and 0 < p99 <= 2.5
    served = httpx.get(f"{api}/model", headers={"X-API-Key": "k"}, timeout=10).json()
    info = query(prom, 'workbench_model_info{alias="champion"}')
    assert [r["metric"]["version"] for r in info] == [served["version"]] == ["1"]
    assert info[0]["metric"]["name"] == served["name"]


def test_prometheus_sees_the_latest_drift_check_and_the_failed_job(stack):
    prom, _, _, share = stack
    assert _value(query(prom, "workbench_drift_share")) == pytest.approx(share)
    assert _value(query(prom, "max(workbench_dataset_drift)")) in (0, 1)
    assert query(prom, "workbench_drift_score")  # one series per checked column
    assert _value(query(prom, "max(workbench_performance)")) > 0
    failed = query(prom, "workbench_job_last_run_failed")
    assert [(r["metric"]["job_name"], r["value"][1]) for r in failed] == [("data_pipeline", "1")]


def test_the_alerting_rules_load_evaluate_and_fire_on_real_series(stack):
    prom = stack[0]
    groups = httpx.get(f"{prom}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert len(rules) == 7, sorted(rules)
    assert {name: r["health"] for name, r in rules.items() if r["health"] != "ok"} == {}
    # WorkbenchJobFailed has no `for`: firing from the first evaluation after the scrape
    firing = wait_for(prom, 'ALERTS{alertname="WorkbenchJobFailed", alertstate="firing"}')
    assert firing[0]["metric"]["job_name"] == "data_pipeline"
    assert query(prom, 'ALERTS{alertname="WorkbenchApiDown"}') == []
    assert query(prom, 'ALERTS{alertname="WorkbenchModelNotLoaded"}') == []


def _panel_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in DASHBOARDS:
        stack = list(json.loads(path.read_text())["panels"])
        while stack:
            panel = stack.pop()
            stack.extend(panel.get("panels", []))
            out += [(path.name, panel["title"], t["expr"]) for t in panel.get("targets", [])]
    return out


def _as_grafana_sends_it(expr: str) -> str:
    """Grafana's built-in interval variables replaced as it would (scrape 1 s here)."""
    return re.sub(r"\$__(rate_interval|interval|range)\b|\$\{__(\w+)\}", "1m", expr)


def test_every_dashboard_query_is_accepted_by_the_real_prometheus(stack):
    prom = stack[0]
    panels = _panel_queries()
    assert len(panels) >= 10
    empty = []
    for dashboard, title, expr in panels:
        promql = _as_grafana_sends_it(expr)
        assert "$" not in promql, f"{dashboard} {title!r}: unknown variable in {expr}"
        resp = httpx.get(f"{prom}/api/v1/query", params={"query": promql}, timeout=10)
        body = resp.json()
        assert body["status"] == "success", f"{dashboard} {title!r}: {expr}: {body}"
        assert not body.get("warnings"), f"{dashboard} {title!r}: {body['warnings']}"
        if not body["data"]["result"]:
            empty.append(title)
    # after predictions, a drift check and its labels, only the 5xx panels may show nothing
    assert set(empty) <= {"Errors"}, empty


TEST_RULE = {
    "groups": [
        {
            "name": "end-to-end",
            "rules": [
                {  # WorkbenchJobFailed without `origin: workbench`, so it is routed to the API
                    "alert": "WorkbenchTestJobFailed",
                    "expr": "max by (job_name) (workbench_job_last_run_failed) == 1",
                    "labels": {"severity": "error"},
                    "annotations": {"summary": "test: job {{ $labels.job_name }} failed"},
                }
            ],
        }
    ]
}


def _alertmanager_config(folder: Path, api: str, admin_key: str) -> Path:
    """docker/alertmanager/alertmanager.yml pointed at `api`, with second-long timers."""
    config = yaml.safe_load((ROOT / "docker" / "alertmanager" / "alertmanager.yml").read_text())
    key_file = folder / "admin_key"
    key_file.write_text(admin_key)
    key_file.chmod(0o600)
    (hook,) = next(r for r in config["receivers"] if r["name"] == "workbench")["webhook_configs"]
    assert hook["url"] == "http://entry:8000/admin/alerts"
    hook["url"] = f"{api}/admin/alerts"
    hook["http_config"]["authorization"]["credentials_file"] = str(key_file)
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1m")
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_incident(ws: Workspace, key: str, status: str, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [i for i in read_incidents(ws) if i["key"] == key and i["status"] == status]
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"no {status} incident {key} after {timeout} s: {read_incidents(ws)}")


def test_a_firing_alert_goes_through_alertmanager_to_a_workbench_incident_and_resolves(
    trained_ws, tmp_path
):
    ws = edit_config(trained_ws, alerts={"sinks": [{"type": "log", "path": "logs/alerts.log"}]})
    db = JobsDB.for_workspace(ws)
    db.finish_run(db.start_run("data_pipeline", "schedule", "test"), "failed", error="boom")
    rule = tmp_path / "test-rule.yml"
    rule.write_text(yaml.safe_dump(TEST_RULE))
    env = {"WORKBENCH_API_KEYS": "k", "WORKBENCH_ADMIN_KEY": "admin-secret"}
    with api_server(ws.root, **env) as (api, _):
        config = _alertmanager_config(tmp_path, api, "admin-secret")
        with (
            alertmanager_server(tmp_path / "am", config) as am,
            prometheus_server(
                tmp_path / "prom",
                [api.removeprefix("http://")],
                rule_files=[*RULES, rule],
                alertmanager=am.removeprefix("http://"),
            ),
        ):
            key = "prometheus.WorkbenchTestJobFailed:job_name=data_pipeline"
            started = time.monotonic()
            opened = _wait_incident(ws, key, "open")
            print(f"incident opened {time.monotonic() - started:.1f} s after Prometheus started")
            assert opened["severity"] == "error"
            assert opened["message"] == "test: job data_pipeline failed"
            logged = (ws.root / "logs" / "alerts.log").read_text()
            assert "test: job data_pipeline failed" in logged  # through the configured sink
            # the real rule fired too, but `origin: workbench` keeps it away from the API
            active = httpx.get(f"{am}/api/v2/alerts", timeout=10).json()
            assert {a["labels"]["alertname"] for a in active} >= {
                "WorkbenchJobFailed",
                "WorkbenchTestJobFailed",
            }
            time.sleep(3)  # several group intervals: it would have been sent by now
            kinds = {i["kind"] for i in read_incidents(ws)}
            assert kinds == {"prometheus.WorkbenchTestJobFailed"}, kinds

            db.finish_run(db.start_run("data_pipeline", "schedule", "test"), "ok")
            started = time.monotonic()
            resolved = _wait_incident(ws, key, "resolved")
            print(f"incident resolved {time.monotonic() - started:.1f} s after the job succeeded")
            assert resolved["id"] == opened["id"]
            assert resolved["resolution"] == f"resolved in Prometheus: {opened['message']}"
