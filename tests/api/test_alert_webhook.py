"""POST /admin/alerts: Alertmanager's webhook payload becomes workbench incidents.

Through `TestClient(create_app(...))` on the demo workspace, with its alert sinks pointed at a
real HTTP receiver on loopback (the end-to-end path with real Prometheus and Alertmanager is in
tests/integration/test_prometheus.py).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from litestar.testing import TestClient
from monitoring_helpers import edit_config

from api.app import create_app
from api.routes.alerts import alert_key
from api.settings import ServeSettings
from core.incidents import read_incidents

KEY, ADMIN = "predict-key", "admin-key"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = json.loads(body)["attachments"][0]["fields"]  # Slack-compatible body
        self.server.received.append({f["title"]: f["value"] for f in fields})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sink():
    """A real HTTP server on loopback recording what the workbench's webhook sink sends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(demo_ws, sink, tmp_path):
    url = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    ws = edit_config(demo_ws, alerts={"sinks": [{"type": "webhook", "url": url}]})
    settings = ServeSettings.from_workspace(
        ws, api_keys=[KEY], admin_key=ADMIN, predictions_dir=tmp_path / "log", poll_seconds=60
    )
    with TestClient(create_app(settings)) as c:
        yield c, ws


def _alert(status: str, name: str, severity: str, **labels) -> dict:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "job": "workbench-api", **labels},
        "annotations": {"summary": f"{name} summary", "description": "details"},
        "startsAt": "2026-12-06T15:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": "abc",
    }


def _payload(*alerts: dict) -> dict:
    """Alertmanager's webhook body (version 4), as it sends it."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": alerts[0]["status"],
        "receiver": "workbench",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def test_the_webhook_needs_the_admin_key_as_header_or_bearer(client):
    c, _ = client
    body = _payload(_alert("firing", "WorkbenchApiDown", "critical", instance="api-1:8000"))
    assert c.post("/admin/alerts", json=body).status_code == 401
    assert c.post("/admin/alerts", json=body, headers={"X-API-Key": KEY}).status_code == 403
    wrong = c.post("/admin/alerts", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert wrong.status_code == 403
    ok = c.post("/admin/alerts", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert ok.status_code == 200, ok.text


def test_firing_alerts_open_incidents_once_and_resolved_ones_close_them(client, sink):
    c, ws = client
    down = _alert("firing", "WorkbenchApiDown", "critical", instance="api-1:8000")
    slow = _alert("firing", "WorkbenchHighLatencyP99", "warning")
    headers = {"X-API-Key": ADMIN}

    first = c.post("/admin/alerts", json=_payload(down, slow), headers=headers).json()["alerts"]
    again = c.post("/admin/alerts", json=_payload(down), headers=headers).json()["alerts"]

    assert [(o["status"], o["notice"]) for o in first] == [("firing", "opened")] * 2
    assert again[0]["notice"] is None and again[0]["incident"] == first[0]["incident"]
    incidents = {i["key"]: i for i in read_incidents(ws)}
    down_key = "prometheus.WorkbenchApiDown:instance=api-1:8000,job=workbench-api"
    assert alert_key(down["labels"]) == down_key
    assert set(incidents) == {down_key, "prometheus.WorkbenchHighLatencyP99:job=workbench-api"}
    assert incidents[down_key]["status"] == "open"
    assert incidents[down_key]["occurrences"] == 2
    assert incidents[down_key]["severity"] == "error"  # Prometheus' critical
    assert incidents[down_key]["message"] == "WorkbenchApiDown summary"
    sent = [(m.get("notice"), m.get("key")) for m in sink.received]
    assert sorted(sent) == sorted([("opened", down_key), ("opened", alert_key(slow["labels"]))])

    resolved = {**down, "status": "resolved", "endsAt": "2026-12-06T15:10:00Z"}
    done = c.post("/admin/alerts", json=_payload(resolved), headers=headers).json()["alerts"]

    incident = first[0]["incident"]
    assert done == [
        {"key": down_key, "status": "resolved", "incident": incident, "notice": "resolved"}
    ]
    assert {i["key"]: i["status"] for i in read_incidents(ws)}[down_key] == "resolved"
    assert sink.received[-1]["notice"] == "resolved" and sink.received[-1]["key"] == down_key


def test_a_payload_that_is_not_alertmanagers_is_refused(client):
    c, ws = client
    bad = c.post("/admin/alerts", json={"alerts": [{"labels": {}}]}, headers={"X-API-Key": ADMIN})
    assert bad.status_code == 400 and "status" in bad.text
    assert read_incidents(ws) == []
