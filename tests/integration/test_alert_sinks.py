"""Alert sinks against real local servers: an HTTP webhook receiver and an SMTP server.

Both listen on 127.0.0.1 in this process (`http.server` in a thread, `aiosmtpd`'s controller);
nothing is mocked and no traffic leaves the machine.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml

from core.alerts import raise_alert, read_alerts
from core.monitoring import sinks
from core.workspace import Workspace


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(
            {"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)}
        )
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    """A real HTTP server on loopback recording every POST; `.status` sets its answer."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    yield server
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback collecting the messages it accepts."""
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 Message accepted for delivery"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


def workspace(root: Path, alerts: dict) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    config = {"project": "p", "task": "classification", "target": "y", "alerts": alerts}
    (root / "workbench.yaml").write_text(yaml.safe_dump(config))
    return Workspace.open(root)


def all_sinks(webhook, smtp_server, **extra) -> dict:
    return {
        "sinks": [
            {"type": "log", "path": "logs/alerts.log"},
            {"type": "webhook", "url": webhook.url},
            {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "sender": "workbench@localhost",
                "to": ["ops@localhost", "ml@localhost"],
            },
        ],
        **extra,
    }


def test_an_alert_reaches_the_log_file_the_webhook_and_the_mailbox(tmp_path, webhook, smtp_server):
    ws = workspace(tmp_path / "ws", all_sinks(webhook, smtp_server))

    event = raise_alert(ws, "monitoring.dataset_drift", "11 of 20 columns drifted", "warning")

    assert event["delivery"] == {"sent": {"log[0]": "ok", "webhook[1]": "ok", "email[2]": "ok"}}
    line = (ws.root / "logs" / "alerts.log").read_text()
    assert "WARNING monitoring.dataset_drift: 11 of 20 columns drifted" in line
    (post,) = webhook.received
    assert post["path"] == "/hooks/alerts" and post["type"] == "application/json"
    assert post["body"]["text"] == (
        "[workbench] WARNING monitoring.dataset_drift: 11 of 20 columns drifted"
    )
    assert {"title": "kind", "value": "monitoring.dataset_drift"} in post["body"]["attachments"][0][
        "fields"
    ]
    (recipients, mail) = smtp_server.messages[0]
    assert recipients == ["ops@localhost", "ml@localhost"]
    assert mail["Subject"] == "[workbench] warning monitoring.dataset_drift"
    assert "11 of 20 columns drifted" in mail.get_payload()
    assert read_alerts(ws.alerts_path)[0]["delivery"] == event["delivery"]


def test_cooldown_holds_one_condition_back_and_lets_another_through(tmp_path, webhook):
    ws = workspace(tmp_path / "ws", {"sinks": [{"type": "webhook", "url": webhook.url}]})

    first = raise_alert(ws, "monitoring.dataset_drift", "drift", "warning", key="drift:m")
    again = raise_alert(ws, "monitoring.dataset_drift", "still drift", "warning", key="drift:m")
    other = raise_alert(ws, "monitoring.performance", "worse", "error", key="perf:m")

    assert first["delivery"] == {"sent": {"webhook[0]": "ok"}}
    assert again["delivery"]["suppressed"].startswith("cooldown until")
    assert other["delivery"] == {"sent": {"webhook[0]": "ok"}}
    assert [p["body"]["text"].split(": ", 1)[1] for p in webhook.received] == ["drift", "worse"]
    assert len(read_alerts(ws.alerts_path)) == 3  # suppressed alerts are still recorded


def test_the_condition_alerts_again_once_the_cooldown_has_passed(tmp_path, webhook):
    ws = workspace(
        tmp_path / "ws",
        {"sinks": [{"type": "webhook", "url": webhook.url}], "cooldown_minutes": 60},
    )
    event = {"kind": "monitoring.performance", "message": "worse", "severity": "error"}
    start = datetime.now(UTC)

    assert "sent" in sinks.deliver(ws, event, "perf", now=start)
    assert "suppressed" in sinks.deliver(ws, event, "perf", now=start + timedelta(minutes=59))
    assert "sent" in sinks.deliver(ws, event, "perf", now=start + timedelta(minutes=61))
    assert len(webhook.received) == 2


def test_a_failing_sink_is_reported_and_the_others_still_get_the_alert(tmp_path, webhook):
    closed = f"http://127.0.0.1:{_free_port()}/nobody-listens"
    webhook.status = 500
    ws = workspace(
        tmp_path / "ws",
        {
            "sinks": [
                {"type": "webhook", "url": closed, "timeout_seconds": 2},
                {"type": "webhook", "url": webhook.url},
                {"type": "log"},
            ]
        },
    )

    event = raise_alert(ws, "data.batch_rejected", "bad batch")

    sent = event["delivery"]["sent"]
    assert sent["webhook[0]"].startswith("failed: URLError")
    assert sent["webhook[1]"].startswith("failed: HTTPError")
    assert sent["log[2]"] == "ok"
    assert "bad batch" in (ws.state / "alerts.log").read_text()


def test_alerts_below_the_minimum_severity_are_only_recorded(tmp_path, webhook):
    ws = workspace(
        tmp_path / "ws",
        {"sinks": [{"type": "webhook", "url": webhook.url}], "min_severity": "error"},
    )

    event = raise_alert(ws, "monitoring.target_drift", "target moved", "warning")

    assert event["delivery"] == {"suppressed": "severity below error"}
    assert webhook.received == []
    assert read_alerts(ws.alerts_path)[0]["message"] == "target moved"


@pytest.mark.slow
def test_a_rejected_batch_of_the_data_pipeline_alerts_the_webhook(demo_ws, webhook):
    from core.data.pipeline import run_pipeline

    path = demo_ws.config_path
    config = yaml.safe_load(path.read_text())
    config["alerts"] = {"sinks": [{"type": "webhook", "url": webhook.url}]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    ws = Workspace.open(demo_ws.root)
    landed = sorted(ws.landing.glob("*.csv"))[0]
    bad = pd.read_csv(landed)
    bad["carrier"] = None
    bad.to_csv(landed, index=False)

    result = run_pipeline(ws)

    assert landed.name in {b.name for b in result.rejected}
    (post,) = webhook.received
    assert post["body"]["text"].startswith("[workbench] ERROR data.batch_rejected:")
    assert landed.name in json.dumps(post["body"])
