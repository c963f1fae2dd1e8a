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

from core.alerts import raise_alert, read_alerts, resolve_alert, retry_pending
from core.errors import ConfigError
from core.incidents import read_incidents
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


def test_an_open_incident_holds_its_condition_back_and_lets_another_through(tmp_path, webhook):
    ws = workspace(tmp_path / "ws", {"sinks": [{"type": "webhook", "url": webhook.url}]})

    first = raise_alert(ws, "monitoring.dataset_drift", "drift", "warning", key="drift:m")
    again = raise_alert(ws, "monitoring.dataset_drift", "still drift", "warning", key="drift:m")
    other = raise_alert(ws, "monitoring.performance", "worse", "error", key="perf:m")

    assert first["delivery"] == {"sent": {"webhook[0]": "ok"}} and first["notice"] == "opened"
    assert again["repeat"] and again["delivery"]["suppressed"].startswith("incident open since")
    assert again["incident"] == first["incident"] != other["incident"]
    assert other["delivery"] == {"sent": {"webhook[0]": "ok"}}
    assert [p["body"]["text"].split(": ", 1)[1] for p in webhook.received] == ["drift", "worse"]
    assert len(read_alerts(ws.alerts_path)) == 3  # held-back alerts are still recorded


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


# ----------------------------------------------------------------------------- incidents
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _texts(webhook) -> list[str]:
    return [p["body"]["text"] for p in webhook.received]


def test_an_incident_notifies_once_reminds_after_the_interval_and_resolves(
    tmp_path, webhook, smtp_server
):
    ws = workspace(
        tmp_path / "ws",
        {
            "sinks": all_sinks(webhook, smtp_server)["sinks"][1:],
            "remind_after_minutes": 60,
        },
    )
    key = "monitoring.dataset_drift:m"

    def drift(minutes: float, text: str = "drift") -> dict:
        at = T0 + timedelta(minutes=minutes)
        return raise_alert(ws, "monitoring.dataset_drift", text, "warning", key=key, now=at)

    opened = drift(0, "12 columns drifted")
    assert opened["notice"] == "opened"
    assert opened["delivery"] == {"sent": {"webhook[0]": "ok", "email[1]": "ok"}}
    for minutes in (10, 30, 59):  # the condition holds: no new notification inside the interval
        assert drift(minutes)["repeat"]
    assert len(webhook.received) == 1 and len(smtp_server.messages) == 1

    reminder = drift(61, "13 columns drifted")
    assert reminder["notice"] == "reminder" and reminder["incident"] == opened["incident"]
    assert _texts(webhook)[1] == (
        "[workbench] REMINDER WARNING monitoring.dataset_drift: "
        "still open since 2026-01-05T09:00:00+00:00: 13 columns drifted"
    )
    assert drift(100)["repeat"]  # the clock restarted at the reminder (61 min)
    assert len(webhook.received) == 2

    resolved = resolve_alert(ws, key, "no dataset drift", now=T0 + timedelta(minutes=120))
    assert resolved["notice"] == "resolved" and resolved["incident"] == opened["incident"]
    assert (
        _texts(webhook)[2]
        == "[workbench] RESOLVED WARNING monitoring.dataset_drift: no dataset drift"
    )
    assert (
        smtp_server.messages[-1][1]["Subject"]
        == "[workbench] resolved warning monitoring.dataset_drift"
    )
    assert resolve_alert(ws, key, "still clean", now=T0 + timedelta(minutes=180)) is None
    assert len(webhook.received) == 3

    (incident,) = read_incidents(ws)
    assert incident["status"] == "resolved" and incident["notifications"] == 3
    assert incident["opened"] == "2026-01-05T09:00:00+00:00"
    assert incident["resolved"] == "2026-01-05T11:00:00+00:00"
    assert [n["notice"] for n in incident["notices"]] == ["opened", "reminder", "resolved"]

    again = drift(200, "drift is back")  # the condition returns: a new incident
    assert again["notice"] == "opened" and again["incident"] != opened["incident"]
    assert [r["status"] for r in read_incidents(ws)] == ["open", "resolved"]


def test_a_failed_delivery_is_retried_with_backoff_and_the_reminder_clock_waits_for_it(
    tmp_path, webhook
):
    ws = workspace(
        tmp_path / "ws",
        {
            "sinks": [{"type": "log"}, {"type": "webhook", "url": webhook.url}],
            "remind_after_minutes": 60,
            "retry_minutes": 1,
        },
    )
    webhook.status = 500
    key = "scheduler.job_failed:train"

    def fail(minutes: float) -> dict:
        at = T0 + timedelta(minutes=minutes)
        return raise_alert(ws, "scheduler.job_failed", "train failed", key=key, now=at)

    first = fail(0)
    assert first["delivery"]["sent"]["log[0]"] == "ok"
    assert first["delivery"]["sent"]["webhook[1]"].startswith("failed: HTTPError")
    (incident,) = read_incidents(ws)
    assert incident["notifications"] == 0 and incident["last_notified"] is None
    assert incident["pending"]["sinks"] == ["webhook[1]"]
    assert incident["pending"]["retry_at"] == "2026-01-05T09:01:00+00:00"

    assert "retry after 2026-01-05T09:01:00" in fail(0.5)["delivery"]["suppressed"]
    assert fail(1)["delivery"] == {
        "sent": {"webhook[1]": "failed: HTTPError: HTTP Error 500: Internal Server Error"}
    }
    assert read_incidents(ws)[0]["pending"]["retry_at"] == "2026-01-05T09:03:00+00:00"  # +2 min
    assert len(webhook.received) == 2

    webhook.status = 200
    assert retry_pending(ws, now=T0 + timedelta(minutes=2)) == 0  # backoff not over yet
    assert retry_pending(ws, now=T0 + timedelta(minutes=3)) == 1
    (incident,) = read_incidents(ws)
    assert incident["notifications"] == 1 and incident["pending"] is None
    assert incident["last_notified"] == "2026-01-05T09:03:00+00:00"  # the clock starts here
    log_lines = (ws.state / "alerts.log").read_text().splitlines()
    assert len(log_lines) == 1  # the log sink took it the first time: not sent twice

    assert fail(62)["repeat"]  # 62 min after opening, 59 after the delivery: no reminder
    assert fail(63)["notice"] == "reminder"
    assert len(webhook.received) == 4


def test_a_resolved_incident_nobody_was_told_of_resolves_quietly(tmp_path):
    closed = f"http://127.0.0.1:{_free_port()}/nobody-listens"
    ws = workspace(
        tmp_path / "ws", {"sinks": [{"type": "webhook", "url": closed, "timeout_seconds": 2}]}
    )

    raise_alert(ws, "monitoring.performance", "worse", key="perf:m", now=T0)
    done = resolve_alert(ws, "perf:m", "within margin", now=T0 + timedelta(minutes=5))

    assert done["delivery"] == {"suppressed": "no notification of this incident was delivered"}
    (incident,) = read_incidents(ws)
    assert incident["status"] == "resolved" and incident["pending"] is None


def test_workbench_alerts_lists_incidents_as_json_and_as_a_table(tmp_path, webhook):
    from typer.testing import CliRunner

    from app.cli import app

    ws = workspace(tmp_path / "ws", {"sinks": [{"type": "webhook", "url": webhook.url}]})
    raise_alert(ws, "monitoring.dataset_drift", "drift", "warning", key="drift:m", now=T0)
    raise_alert(ws, "scheduler.job_failed", "train failed", key="job:train", now=T0)
    resolve_alert(ws, "job:train", "train succeeded", now=T0 + timedelta(hours=1))
    runner = CliRunner()

    done = runner.invoke(app, ["alerts", "-w", str(ws.root), "--json"])

    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    assert [(r["kind"], r["status"]) for r in rows] == [
        ("monitoring.dataset_drift", "open"),
        ("scheduler.job_failed", "resolved"),
    ]
    assert {"kind", "status", "opened", "resolved", "notifications", "key", "message"} <= set(
        rows[0]
    )
    assert rows[0]["resolved"] is None and rows[0]["notifications"] == 1
    assert rows[1]["resolved"] == "2026-01-05T10:00:00+00:00" and rows[1]["notifications"] == 2
    table = runner.invoke(app, ["alerts", "-w", str(ws.root)])
    assert "drift:m" in table.stdout and "resolved" in table.stdout
    events = json.loads(
        runner.invoke(app, ["alerts", "-w", str(ws.root), "--events", "--json"]).stdout
    )
    assert [e["message"] for e in events] == ["train succeeded", "train failed", "drift"]


def test_a_webhook_url_kept_as_a_secret_never_enters_the_config(tmp_path, webhook):
    from core.secrets import write_secret

    ws = workspace(tmp_path / "ws", {"sinks": [{"type": "webhook", "url_secret": "slack_hook"}]})
    missing = raise_alert(ws, "t.missing", "before the secret is set", key="a")
    write_secret(ws.root, "slack_hook", webhook.url)

    sent = raise_alert(ws, "t.sent", "with the secret set", key="b")

    assert "secret 'slack_hook' is not set" in missing["delivery"]["sent"]["webhook[0]"]
    assert sent["delivery"] == {"sent": {"webhook[0]": "ok"}} and len(webhook.received) == 1
    assert webhook.url not in ws.config_path.read_text()
    with pytest.raises(ConfigError, match="exactly one of url and url_secret"):
        workspace(tmp_path / "bad", {"sinks": [{"type": "webhook"}]}).config  # noqa: B018


@pytest.fixture
def smtp_auth_server():
    """A real SMTP server on loopback that requires a login (user `alerts`, password `s3cret`)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Inbox:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.messages.append(envelope.rcpt_tos)
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"alerts", b"s3cret")
        return AuthResult(success=ok)

    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=authenticator,
        auth_require_tls=False,  # loopback only
        auth_required=True,
    )
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


def test_the_smtp_password_comes_from_a_named_secret(tmp_path, smtp_auth_server, monkeypatch):
    from core.secrets import write_secret

    sink = {
        "type": "email",
        "host": "127.0.0.1",
        "port": smtp_auth_server.port,
        "sender": "workbench@localhost",
        "to": ["ops@localhost"],
        "username": "alerts",
        "password_secret": "smtp_password",
    }
    ws = workspace(tmp_path / "ws", {"sinks": [sink]})
    monkeypatch.delenv("WORKBENCH_SECRET_SMTP_PASSWORD", raising=False)

    missing = raise_alert(ws, "check.one", "roc_auc fell", "warning")
    outcome = missing["delivery"]["sent"]["email[0]"]
    assert outcome.startswith("failed") and "secret 'smtp_password' is not set" in outcome
    assert "s3cret" not in (ws.root / "workbench.yaml").read_text()

    write_secret(ws.root, "smtp_password", "wrong")
    wrong = raise_alert(ws, "check.two", "roc_auc fell more", "warning")
    assert wrong["delivery"]["sent"]["email[0]"].startswith("failed")  # the login was refused

    monkeypatch.setenv("WORKBENCH_SECRET_SMTP_PASSWORD", "s3cret")  # the environment wins
    sent = raise_alert(ws, "check.three", "roc_auc fell again", "warning")
    assert sent["delivery"] == {"sent": {"email[0]": "ok"}}
    assert smtp_auth_server.messages == [["ops@localhost"]]


def test_an_email_sink_takes_one_password_source(tmp_path):
    sink = {"type": "email", "host": "h", "sender": "a@b", "to": ["c@d"], "username": "u",
            "password_env": "P", "password_secret": "p"}  # fmt: skip
    with pytest.raises(ConfigError, match="password_env or password_secret, not both"):
        _ = workspace(tmp_path / "ws", {"sinks": [sink]}).config
