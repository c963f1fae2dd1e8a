"""Incidents: one per alert condition while it holds, with its notifications and their retries.

An incident is keyed by its condition (e.g. `monitoring.dataset_drift:flights-delay`). It is
`open` from the first alert of the condition until a later check finds the condition clean
(`resolved`). Its notifications are `opened`, `reminder` (the condition still holds
`alerts.remind_after_minutes` after the last delivered notification) and `resolved`. A
notification that some sink did not take stays `pending` for those sinks and is retried at the
next alert activity once its backoff has passed (`alerts.retry_minutes`, doubled per failure);
the reminder clock starts only when every sink has taken it.

The store is `.workbench/incidents.json`, replaced atomically under an exclusive file lock
(`incidents.lock`), so the scheduler, the CLI and the UI can all write it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.files import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.workspace import Workspace

KEEP_RESOLVED = 500
"""Resolved incidents kept in the store (oldest dropped first); the event log keeps all."""


def incidents_path(ws: Workspace) -> Path:
    """`.workbench/incidents.json`: every open incident and the latest resolved ones."""
    return ws.state / "incidents.json"


def read_incidents(ws: Workspace) -> list[dict]:
    """All stored incidents: open ones first, then the others; newest opened first."""
    try:
        rows = json.loads(incidents_path(ws).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return sorted(
        sorted(rows, key=lambda r: r["opened"], reverse=True), key=lambda r: r["status"] != "open"
    )


@contextlib.contextmanager
def locked(ws: Workspace) -> Iterator[list[dict]]:
    """The stored incidents, to change in place; written back atomically on exit."""
    path = incidents_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            rows = read_incidents(ws)
            yield rows
            resolved = [r for r in rows if r["status"] != "open"][KEEP_RESOLVED:]
            kept = [r for r in rows if r not in resolved]
            atomic_write_text(path, json.dumps(kept, indent=1, default=str))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_for(rows: list[dict], key: str) -> dict | None:
    """The open incident of a condition, if any."""
    return next((r for r in rows if r["key"] == key and r["status"] == "open"), None)


def open_incident(rows: list[dict], event: dict, now: datetime) -> dict:
    """Start an incident for the event's condition (added to `rows`)."""
    incident = {
        "id": f"inc-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:4]}",
        "key": event["key"],
        "kind": event["kind"],
        "severity": event["severity"],
        "status": "open",
        "message": event["message"],
        "opened": _iso(now),
        "resolved": None,
        "resolution": None,
        "last_seen": _iso(now),
        "occurrences": 1,
        "notifications": 0,
        "last_notified": None,
        "notices": [],
        "told": False,
        "pending": None,
    }
    rows.append(incident)
    return incident


def seen_again(incident: dict, event: dict, now: datetime) -> None:
    """The condition still holds: newest message, one more occurrence."""
    incident.update(message=event["message"], severity=event["severity"], last_seen=_iso(now))
    incident["occurrences"] += 1


def reminder_due(incident: dict, remind_after_minutes: float, now: datetime) -> bool:
    """True when nothing is pending and the last delivery is at least the interval ago."""
    last = incident["last_notified"]
    if incident["pending"] or not last:
        return False
    return now >= datetime.fromisoformat(last) + timedelta(minutes=remind_after_minutes)


def next_reminder(incident: dict, remind_after_minutes: float) -> str | None:
    """When the next reminder may go out (None before the first delivery)."""
    last = incident["last_notified"]
    if not last:
        return None
    return _iso(datetime.fromisoformat(last) + timedelta(minutes=remind_after_minutes))


def queue(incident: dict, notice: str, event: dict, sinks: list[str]) -> None:
    """Make `notice` the incident's pending notification, due at once, for `sinks`."""
    incident["pending"] = (
        {"notice": notice, "event": event, "sinks": sinks, "attempts": 0, "retry_at": None}
        if sinks
        else None
    )


def due(incident: dict, now: datetime) -> bool:
    """True when the incident has a pending notification whose backoff has passed."""
    pending = incident["pending"]
    return bool(pending) and (
        pending["retry_at"] is None or now >= datetime.fromisoformat(pending["retry_at"])
    )


def record_attempt(
    incident: dict, outcome: dict, now: datetime, retry_minutes: float, cap_minutes: float
) -> None:
    """Apply one delivery attempt of the pending notification.

    Every sink took it: one more notification, `last_notified` = now (the reminder clock),
    nothing pending. Some sink failed: those sinks stay pending, retried after
    `retry_minutes * 2**(attempts - 1)` (at most `cap_minutes`, at least `retry_minutes`).
    """
    pending = incident["pending"]
    sent = outcome["sent"]
    failed = [label for label, result in sent.items() if result != "ok"]
    incident["told"] = incident["told"] or len(failed) < len(sent)
    if not failed:
        incident["notifications"] += 1
        incident["last_notified"] = _iso(now)
        incident["notices"].append({"notice": pending["notice"], "time": _iso(now)})
        incident["pending"] = None
        return
    pending["attempts"] += 1
    pending["sinks"] = failed
    delay = max(min(retry_minutes * 2 ** (pending["attempts"] - 1), cap_minutes), retry_minutes)
    pending["retry_at"] = _iso(now + timedelta(minutes=delay))
    pending["last_error"] = "; ".join(f"{label} {sent[label]}" for label in failed)


def resolve(incident: dict, message: str, now: datetime) -> None:
    """Close the incident (its pending notification is for the caller to replace or drop)."""
    incident.update(status="resolved", resolved=_iso(now), resolution=message)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
