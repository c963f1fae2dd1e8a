"""Alert events: a structured log record, a line in the workspace's alert log, and the sinks.

`record_alert` only records. `raise_alert` also delivers the event to the sinks configured in
the `alerts:` section (log file, webhook, email; see `core.monitoring.sinks`), at most once per
cooldown for the same condition `key`; the delivery outcome is recorded with the event.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.files import append_jsonl

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.workspace import Workspace

log = logging.getLogger("workbench.alerts")


def _event(kind: str, message: str, severity: str, details: dict) -> dict:
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
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
    **details,
) -> dict:
    """Deliver an alert to the configured sinks (cooldown per `key`) and record it.

    Delivery never raises: a failing sink is noted in the event's `delivery` field.

    Args:
        ws: The workspace (its `alerts:` config and state).
        kind: Event kind, e.g. `monitoring.dataset_drift`.
        message: One line for humans.
        severity: `info`, `warning` or `error`.
        key: The condition the cooldown applies to (default: `kind`).
        **details: Extra fields stored with the event.

    Returns:
        The recorded event, with `delivery` = {"sent": {sink: outcome}} or {"suppressed": why}.
    """
    from core.monitoring.sinks import deliver

    event = _event(kind, message, severity, {**details, "key": key or kind})
    event["delivery"] = deliver(ws, event, key or kind)
    return _append(ws.alerts_path, event)


def read_alerts(path: Path, limit: int = 100) -> list[dict]:
    """The newest `limit` alert events, newest first."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    return [json.loads(line) for line in reversed(lines) if line.strip()]
