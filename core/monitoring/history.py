"""Check history: one JSON line per check in `.workbench/monitoring/checks.jsonl`.

The Drift page draws its charts from it; `latest_gauges` exports its newest record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core.files import append_jsonl, read_jsonl
from core.workspace import Workspace


def monitoring_dir(ws: Workspace) -> Path:
    """`.workbench/monitoring/`: history, cooldowns, retrain decisions, cached references."""
    return ws.state / "monitoring"


def history_path(ws: Workspace) -> Path:
    """`.workbench/monitoring/checks.jsonl`."""
    return monitoring_dir(ws) / "checks.jsonl"


def record_check(ws: Workspace, record: dict) -> None:
    """Append a check record to the history."""
    append_jsonl(history_path(ws), record)


def read_history(ws: Workspace, limit: int | None = 500) -> list[dict]:
    """The newest `limit` check records, oldest first."""
    return read_jsonl(history_path(ws), limit)


def latest_check(ws: Workspace) -> dict | None:
    """The newest check record, or None."""
    records = read_history(ws, limit=1)
    return records[-1] if records else None


def history_frame(records: list[dict]) -> pd.DataFrame:
    """One row per check: time, window, rows, share, verdicts and the watched metric."""
    rows = []
    for r in records:
        drift, perf = r.get("drift") or {}, r.get("performance") or {}
        columns, held = drift.get("columns") or {}, conditions_held(r)
        rows.append(
            {
                "time": pd.Timestamp(r["time"]),
                "id": r.get("id"),
                "window": r.get("label"),
                "source": r.get("source"),
                "model version": (r.get("model") or {}).get("version"),
                "rows": r.get("rows"),
                "share": drift.get("share"),
                "drifted columns": sum(1 for c in columns.values() if c.get("drifted")),
                "dataset drift": drift.get("dataset_drift"),
                "prediction drift": "prediction_drift" in held,
                "target drift": "target_drift" in held,
                "metric": perf.get("metric"),
                "value": perf.get("value"),
                "baseline": perf.get("baseline"),
                "drop": perf.get("drop"),
                "performance drift": perf.get("drifted"),
                "labelled": perf.get("labelled"),
                "skipped": r.get("skipped"),
                "report": r.get("report"),
            }
        )
    return pd.DataFrame(rows)


def feature_matrix(records: list[dict], field: str = "psi") -> pd.DataFrame:
    """Checks × feature columns of one per-column field (`psi`, `score`, `drifted`)."""
    data = {
        pd.Timestamp(r["time"]): {
            name: c.get(field) for name, c in ((r.get("drift") or {}).get("columns") or {}).items()
        }
        for r in records
        if not r.get("skipped")
    }
    frame = pd.DataFrame.from_dict(data, orient="index")
    return frame.sort_index() if not frame.empty else frame


def conditions_held(record: dict) -> set[str]:
    """The monitored conditions that held in a recorded check (`CheckResult.conditions`)."""
    drift, perf = record.get("drift") or {}, record.get("performance") or {}
    held = {
        "dataset_drift": bool(drift.get("dataset_drift")),
        "prediction_drift": any(
            c.get("drifted") for c in (drift.get("prediction_drift") or {}).values()
        ),
        "target_drift": bool((drift.get("target_drift") or {}).get("drifted")),
        "performance": bool(perf.get("drifted")),
    }
    return {name for name, value in held.items() if value}


def streak(previous: list[dict], held: Callable[[dict], bool]) -> int:
    """How many of the latest recorded log checks in a row (newest first) satisfy `held`."""
    count = 0
    for record in reversed(previous):
        if record.get("source") != "log" or record.get("skipped"):
            continue
        if not held(record):
            break
        count += 1
    return count


def held_streak(previous: list[dict], condition: str) -> int:
    """How many of the latest recorded log checks in a row (newest first) had `condition`."""
    return streak(previous, lambda record: condition in conditions_held(record))
