"""Alert sinks (log file, webhook, email) and the cooldown per alert condition.

`deliver` is called by `core.alerts.raise_alert`. A condition (its key, e.g.
`monitoring.dataset_drift:flights-delay`) is sent at most once per `alerts.cooldown_minutes`;
the last sending time per key is kept in `.workbench/monitoring/cooldown.json`. A sink that
fails is reported in the outcome, never raised: an alert must not break the pipeline or a check.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from core.config.monitoring import EmailSink, LogSink, WebhookSink
from core.errors import one_line
from core.files import atomic_write_text
from core.workspace import Workspace

log = logging.getLogger("workbench.alerts")
SEVERITY = {"info": 0, "warning": 1, "error": 2}


def cooldown_path(ws: Workspace) -> Path:
    """`.workbench/monitoring/cooldown.json`: last sending time per condition key."""
    return ws.state / "monitoring" / "cooldown.json"


def _read_state(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_state(path: Path, state: dict[str, str]) -> None:
    atomic_write_text(path, json.dumps(state, indent=1, sort_keys=True))


def in_cooldown(ws: Workspace, key: str, now: datetime | None = None) -> str | None:
    """The time until which `key` is quiet, or None when it may be sent now."""
    last = _read_state(cooldown_path(ws)).get(key)
    if not last:
        return None
    until = datetime.fromisoformat(last) + timedelta(minutes=ws.config.alerts.cooldown_minutes)
    return until.isoformat(timespec="seconds") if (now or datetime.now(UTC)) < until else None


def deliver(ws: Workspace, event: dict, key: str, now: datetime | None = None) -> dict:
    """Send an event to every configured sink unless its condition is cooling down.

    Returns:
        `{"sent": {sink: "ok" | "failed: ..."}}`, or `{"suppressed": reason}` (cooldown,
        severity below `alerts.min_severity`).
    """
    cfg = ws.config.alerts
    now = now or datetime.now(UTC)
    if SEVERITY.get(event.get("severity"), 2) < SEVERITY[cfg.min_severity]:
        return {"suppressed": f"severity below {cfg.min_severity}"}
    until = in_cooldown(ws, key, now)
    if until:
        return {"suppressed": f"cooldown until {until}"}
    sent = {}
    for i, sink in enumerate(cfg.sinks):
        label = f"{sink.type}[{i}]"
        try:
            send(ws, sink, event)
            sent[label] = "ok"
        except Exception as exc:  # noqa: BLE001 - any sink failure is reported, never raised
            log.warning("alert sink %s failed: %s", label, exc)
            sent[label] = f"failed: {one_line(exc)}"
    state = _read_state(cooldown_path(ws))
    state[key] = now.isoformat(timespec="seconds")
    _write_state(cooldown_path(ws), state)
    return {"sent": sent}


def text(event: dict) -> str:
    """One line for chat and logs: `[workbench] WARNING monitoring.dataset_drift: ...`."""
    return (
        f"[workbench] {str(event.get('severity', '')).upper()} {event['kind']}: {event['message']}"
    )


def send(ws: Workspace, sink, event: dict) -> None:
    """Send one event to one sink (raises on failure)."""
    if isinstance(sink, LogSink):
        send_log(ws.resolve(sink.path), event)
    elif isinstance(sink, WebhookSink):
        send_webhook(sink, event)
    elif isinstance(sink, EmailSink):
        send_email(sink, event)


def send_log(path: Path, event: dict) -> None:
    """Append `<time> <line>` to a log file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{event.get('time')} {text(event)}\n")


def webhook_body(event: dict) -> dict:
    """Slack-compatible body: `text` for the message, the fields as an attachment."""
    fields = [
        {"title": k, "value": json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)}
        for k, v in event.items()
        if k not in {"message", "delivery"}
    ]
    colour = {"error": "danger", "warning": "warning"}.get(event.get("severity"), "good")
    return {"text": text(event), "attachments": [{"color": colour, "fields": fields}]}


def send_webhook(sink: WebhookSink, event: dict) -> None:
    """POST the Slack-compatible JSON body; a non-2xx answer raises."""
    request = urllib.request.Request(
        sink.url,
        data=json.dumps(webhook_body(event), default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", **sink.headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=sink.timeout_seconds) as response:  # noqa: S310 - the URL is the operator's config (http/https only)
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered HTTP {response.status}")


def send_email(sink: EmailSink, event: dict) -> None:
    """Send a plain-text email (STARTTLS or SSL and login when configured)."""
    msg = EmailMessage()
    msg["Subject"] = f"{sink.subject_prefix} {event.get('severity', '')} {event['kind']}".strip()
    msg["From"] = sink.sender
    msg["To"] = ", ".join(sink.to)
    details = "\n".join(f"{k}: {v}" for k, v in event.items() if k not in {"message", "delivery"})
    msg.set_content(f"{event['message']}\n\n{details}\n")
    smtp_class = smtplib.SMTP_SSL if sink.ssl else smtplib.SMTP
    with smtp_class(sink.host, sink.port, timeout=sink.timeout_seconds) as smtp:
        if sink.starttls and not sink.ssl:
            smtp.starttls()
        if sink.username:
            smtp.login(sink.username, os.environ.get(sink.password_env or "", ""))
        smtp.send_message(msg)
