"""Alert events and incidents: what happened (the event log) and what is wrong (incidents).

`record_alert` only records. `raise_alert` reports that a condition holds: it opens the
condition's incident (or finds it open), notifies the sinks of the `alerts:` section once, then
reminds at `alerts.remind_after_minutes` while it stays open; `resolve_alert` reports the
condition clean: the incident resolves, with a `resolved` notification. Every call appends an
event (with its delivery outcome) to `.workbench/alerts.jsonl`; the incidents are kept in
`.workbench/incidents.json` (`core.incidents`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core import incidents
from core.files import append_jsonl, read_jsonl, utc_now
from core.monitoring import sinks

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.workspace import Workspace

log = logging.getLogger("workbench.alerts")


def _event(
    kind: str, message: str, severity: str, details: dict, now: datetime | None = None
) -> dict:
    return {
        "time": (now or utc_now()).isoformat(timespec="seconds"),
        "kind": kind,
        "severity": severity,
        "message": message,
        **details,
    }


def _append(path: Path, event: dict) -> dict:
    append_jsonl(path, event)
    log.warning("alert %s", json.dumps(event, default=str))
    return event


def record_alert(path: Path, kind: str, message: str, severity: str = "error", **details) -> dict:
    """Append one alert event (JSON line) to `path` and log it; returns the event."""
    return _append(path, _event(kind, message, severity, details))


def raise_alert(
    ws: Workspace,
    kind: str,
    message: str,
    severity: str = "error",
    key: str | None = None,
    now: datetime | None = None,
    **details,
) -> dict:
    """Report that a condition holds: open its incident (notified once), or remind, and record.

    The first alert of a condition `key` opens an incident and notifies the configured sinks;
    later alerts of the same open incident are recorded only, except a reminder once
    `alerts.remind_after_minutes` have passed since its last delivered notification. A
    notification a sink did not take is retried with backoff (see `core.incidents`). Delivery
    never raises: what each sink did is in the event's `delivery` field.

    Args:
        ws: The workspace (its `alerts:` config and state).
        kind: Event kind, e.g. `monitoring.dataset_drift`.
        message: One line for humans.
        severity: `info`, `warning` or `error` (below `alerts.min_severity`: recorded only).
        key: The condition (default: `kind`); `resolve_alert` with the same key closes it.
        now: The current time (tests pass a clock; default: now).
        **details: Extra fields stored with the event.

    Returns:
        The recorded event, with `incident` (its id), `notice` (`opened`, `reminder` or None),
        `repeat` (True when the incident was already open and nothing new was sent) and
        `delivery` = {"sent": {sink: outcome}} or {"suppressed": why}.
    """
    now = now or utc_now()
    key = key or kind
    event = _event(kind, message, severity, {**details, "key": key}, now)
    quiet = sinks.below_min_severity(ws, severity)
    if quiet:
        event["delivery"] = {"suppressed": quiet}
        return _append(ws.alerts_path, event)
    cfg = ws.config.alerts
    with incidents.locked(ws) as rows:
        incident = incidents.open_for(rows, key)
        notice = None
        if incident is None:
            incident, notice = incidents.open_incident(rows, event, now), "opened"
        else:
            incidents.seen_again(incident, event, now)
            if incidents.reminder_due(incident, cfg.remind_after_minutes, now):
                notice = "reminder"
        if notice:
            note = {**event, "notice": notice, "incident": incident["id"]}
            if notice == "reminder":
                note["message"] = f"still open since {incident['opened']}: {message}"
            incidents.queue(incident, notice, note, sinks.labels(ws))
        event.update(incident=incident["id"], notice=notice, repeat=notice is None)
        event["delivery"] = _flush(ws, rows, now, incident)
    return _append(ws.alerts_path, event)


def resolve_alert(
    ws: Workspace, key: str, message: str, now: datetime | None = None, **details
) -> dict | None:
    """Report that a condition is clean: resolve its open incident, if any, and notify.

    The `resolved` notification goes to the sinks when an earlier notification of the incident
    reached a sink (nobody is told of an end they were never told began). A clean check with
    no open incident does nothing and records nothing.

    Returns:
        The recorded `alert.resolved` event, or None when the condition had no open incident.
    """
    now = now or utc_now()
    with incidents.locked(ws) as rows:
        incident = incidents.open_for(rows, key)
        if incident is None:
            return None
        incidents.resolve(incident, message, now)
        event = _event(
            incident["kind"],
            message,
            incident["severity"],
            {**details, "key": key, "incident": incident["id"], "notice": "resolved"},
            now,
        )
        told = incident["told"]
        incidents.queue(incident, "resolved", dict(event), sinks.labels(ws) if told else [])
        event["delivery"] = (
            _flush(ws, rows, now, incident)
            if told
            else {"suppressed": "no notification of this incident was delivered"}
        )
    return _append(ws.alerts_path, event)


def retry_pending(ws: Workspace, now: datetime | None = None) -> int:
    """Retry every pending notification whose backoff has passed; returns how many were tried.

    `raise_alert` and `resolve_alert` do this too; call it to flush retries without an alert.
    """
    now = now or utc_now()
    with incidents.locked(ws) as rows:
        tried = [r for r in rows if incidents.due(r, now)]
        _flush(ws, rows, now, None)
    return len(tried)


def _flush(ws: Workspace, rows: list[dict], now: datetime, current: dict | None) -> dict:
    """Attempt every due pending notification; the outcome for `current`'s (or why none)."""
    cfg = ws.config.alerts
    outcome = None
    for incident in rows:
        if not incidents.due(incident, now):
            continue
        pending = incident["pending"]
        result = sinks.deliver(ws, pending["event"], only=pending["sinks"])
        incidents.record_attempt(
            incident, result, now, cfg.retry_minutes, max(cfg.remind_after_minutes, 1)
        )
        if incident is current:
            outcome = result
    if outcome is not None or current is None:
        return outcome or {}
    if current["pending"]:
        pending = current["pending"]
        return {"suppressed": f"{pending['notice']} notification retry after {pending['retry_at']}"}
    if not cfg.sinks:
        return {"suppressed": "no sinks configured"}
    after = incidents.next_reminder(current, cfg.remind_after_minutes)
    return {"suppressed": f"incident open since {current['opened']}, next reminder after {after}"}


def read_alerts(path: Path, limit: int = 100) -> list[dict]:
    """The newest `limit` alert events, newest first."""
    return read_jsonl(path, limit)[::-1]
