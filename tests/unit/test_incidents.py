"""Incidents: the store under concurrent writers, the retry backoff, the Overview's table."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import yaml

from app.views import overview
from core import incidents
from core.alerts import raise_alert, resolve_alert
from core.incidents import read_incidents
from core.workspace import Workspace

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def workspace(tmp_path, alerts: dict | None = None) -> Workspace:
    config = {"project": "p", "task": "classification", "target": "y", "alerts": alerts or {}}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(config))
    return Workspace.open(tmp_path)


def test_concurrent_raises_of_one_condition_open_a_single_incident(tmp_path):
    ws = workspace(tmp_path)

    def drift(i: int) -> None:
        raise_alert(ws, "monitoring.dataset_drift", f"drift {i}", "warning", key="drift:m")

    threads = [threading.Thread(target=drift, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    (incident,) = read_incidents(ws)
    assert incident["status"] == "open" and incident["occurrences"] == 8
    assert incident["notifications"] == 0  # no sink configured: recorded only


def test_the_retry_delay_doubles_per_failure_up_to_the_reminder_interval():
    incident = {"told": False, "notifications": 0, "last_notified": None, "notices": []}
    incidents.queue(incident, "opened", {}, ["webhook[0]"])
    failed = {"sent": {"webhook[0]": "failed: URLError"}}
    delays = []
    now = T0
    for _ in range(6):
        incidents.record_attempt(incident, failed, now, retry_minutes=1, cap_minutes=10)
        retry_at = datetime.fromisoformat(incident["pending"]["retry_at"])
        delays.append((retry_at - now) / timedelta(minutes=1))
        now = retry_at
    assert delays == [1, 2, 4, 8, 10, 10]
    assert not incident["told"] and incident["last_notified"] is None


def test_the_incidents_table_lists_open_ones_first_with_pending_notifications(tmp_path):
    ws = workspace(tmp_path)
    raise_alert(ws, "scheduler.job_failed", "train failed", key="job:train", now=T0)
    resolve_alert(ws, "job:train", "train succeeded", now=T0 + timedelta(hours=1))
    raise_alert(ws, "monitoring.performance", "worse", key="perf:m", now=T0 + timedelta(hours=2))
    rows = read_incidents(ws)
    rows[0]["pending"] = {"notice": "opened"}

    frame = overview.incidents_frame(rows)

    assert list(frame["status"]) == ["open", "resolved"]
    assert list(frame["kind"]) == ["monitoring.performance", "scheduler.job_failed"]
    assert list(frame["notifications"]) == ["0 (opened pending)", "0"]
    assert frame["resolved"][1] == "2026-01-05 10:00 UTC" and frame["resolved"][0] == ""
    assert frame["resolution"][1] == "train succeeded"
    assert list(overview.incidents_frame([]).columns)[:2] == ["status", "kind"]
