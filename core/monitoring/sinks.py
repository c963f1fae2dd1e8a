"""Alert sinks (log file, webhook, email): send one notification, report what each sink did.

`deliver` is called by `core.alerts` for the notifications of an incident (opened, reminder,
resolved; see `core.incidents`); which notifications are due, and the retries of the ones a
sink did not take, are decided there. A sink that fails is reported in the outcome, never
raised: an alert must not break the pipeline or a check.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from core.config.monitoring import EmailSink, LogSink, WebhookSink
from core.errors import one_line
from core.workspace import Workspace

log = logging.getLogger("workbench.alerts")
SEVERITY = {"info": 0, "warning": 1, "error": 2}
NOTICE_PREFIX = {"reminder": "REMINDER ", "resolved": "RESOLVED "}


def below_min_severity(ws: Workspace, severity: str) -> str | None:
    """Why an alert of this severity is only recorded, or None when it is notified."""
    floor = ws.config.alerts.min_severity
    return f"severity below {floor}" if SEVERITY.get(severity, 2) < SEVERITY[floor] else None


def labels(ws: Workspace) -> list[str]:
    """The configured sinks' labels, `type[index]` (e.g. `webhook[1]`)."""
    return [f"{sink.type}[{i}]" for i, sink in enumerate(ws.config.alerts.sinks)]


def deliver(ws: Workspace, event: dict, only: list[str] | None = None) -> dict:
    """Send an event to every configured sink (or to the sinks labelled in `only`).

    Returns:
        `{"sent": {label: "ok" | "failed: ..."}}`; `{"sent": {}}` when no sink is configured.
    """
    sent = {}
    for label, sink in zip(labels(ws), ws.config.alerts.sinks, strict=True):
        if only is not None and label not in only:
            continue
        try:
            send(ws, sink, event)
            sent[label] = "ok"
        except Exception as exc:  # noqa: BLE001 - any sink failure is reported, never raised
            log.warning("alert sink %s failed: %s", label, exc)
            sent[label] = f"failed: {one_line(exc)}"
    return {"sent": sent}


def text(event: dict) -> str:
    """One line for chat and logs: `[workbench] WARNING monitoring.dataset_drift: ...`.

    A reminder reads `[workbench] REMINDER WARNING ...`, a resolution `[workbench] RESOLVED ...`.
    """
    prefix = NOTICE_PREFIX.get(event.get("notice"), "")
    severity = str(event.get("severity", "")).upper()
    return f"[workbench] {prefix}{severity} {event['kind']}: {event['message']}"


def send(ws: Workspace, sink, event: dict) -> None:
    """Send one event to one sink (raises on failure)."""
    if isinstance(sink, LogSink):
        send_log(ws.resolve(sink.path), event)
    elif isinstance(sink, WebhookSink):
        send_webhook(sink, event, webhook_url(ws, sink))
    elif isinstance(sink, EmailSink):
        send_email(sink, event, smtp_password(ws, sink))


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


def webhook_url(ws: Workspace, sink: WebhookSink) -> str:
    """The sink's URL, or the secret named by its `url_secret` (raises when missing or bad)."""
    if sink.url_secret is None:
        return sink.url
    url = required_secret(ws, sink.url_secret)
    if not url.startswith(("http://", "https://")):
        raise OSError(f"secret {sink.url_secret!r} is not an http(s) URL")
    return url


def send_webhook(sink: WebhookSink, event: dict, url: str | None = None) -> None:
    """POST the Slack-compatible JSON body to `url` (default the sink's); non-2xx raises."""
    request = urllib.request.Request(
        url or sink.url,
        data=json.dumps(webhook_body(event), default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", **sink.headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=sink.timeout_seconds) as response:  # noqa: S310 - the URL is the operator's config (http/https only)
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered HTTP {response.status}")


def smtp_password(ws: Workspace, sink: EmailSink) -> str:
    """The SMTP password (raises when its named secret is not set).

    The secret named by `password_secret`, else the environment variable named by
    `password_env`, else "".
    """
    if sink.password_secret is None:
        return os.environ.get(sink.password_env or "", "")
    return required_secret(ws, sink.password_secret)


def required_secret(ws: Workspace, name: str) -> str:
    """Secret `name` of the workspace; an `OSError` naming where it is looked for when unset."""
    from core.secrets import env_name, read_secret

    value = read_secret(ws.root, name)
    if not value:
        raise OSError(f"secret {name!r} is not set (.workbench/secrets.json or {env_name(name)})")
    return value


def send_email(sink: EmailSink, event: dict, password: str | None = None) -> None:
    """Send a plain-text email (STARTTLS or SSL and login when configured).

    `password`: the SMTP password (None: from the environment variable `password_env`).
    """
    msg = EmailMessage()
    notice = NOTICE_PREFIX.get(event.get("notice"), "").lower()
    subject = f"{sink.subject_prefix} {notice}{event.get('severity', '')} {event['kind']}"
    msg["Subject"] = subject.strip()
    msg["From"] = sink.sender
    msg["To"] = ", ".join(sink.to)
    details = "\n".join(f"{k}: {v}" for k, v in event.items() if k not in {"message", "delivery"})
    msg.set_content(f"{event['message']}\n\n{details}\n")
    smtp_class = smtplib.SMTP_SSL if sink.ssl else smtplib.SMTP
    with smtp_class(sink.host, sink.port, timeout=sink.timeout_seconds) as smtp:
        if sink.starttls and not sink.ssl:
            smtp.starttls()
        if sink.username:
            if password is None:
                password = os.environ.get(sink.password_env or "", "")
            smtp.login(sink.username, password)
        smtp.send_message(msg)
