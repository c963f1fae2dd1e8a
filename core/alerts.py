"""Alert events: a structured log record plus a line in the workspace's alert log.

The alert sinks (email, webhook) come with monitoring; every producer already calls
`record_alert` so they only need to subscribe here.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("workbench.alerts")


def record_alert(path: Path, kind: str, message: str, severity: str = "error", **details) -> dict:
    """Append one alert event (JSON line) to `path` and log it; returns the event."""
    event = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "kind": kind,
        "severity": severity,
        "message": message,
        **details,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(event, default=str) + "\n")
    log.warning("alert %s", json.dumps(event, default=str))
    return event


def read_alerts(path: Path, limit: int = 100) -> list[dict]:
    """The newest `limit` alert events, newest first."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    return [json.loads(line) for line in reversed(lines) if line.strip()]
