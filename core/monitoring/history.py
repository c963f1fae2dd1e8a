"""Check history: one JSON line per check in `.workbench/monitoring/checks.jsonl`.

The Drift page draws its charts from it; `latest_gauges` exports its newest record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core.workspace import Workspace


def monitoring_dir(ws: Workspace) -> Path:
    """`.workbench/monitoring/`: history, cooldowns, retrain decisions, cached references."""
    return ws.state / "monitoring"


def history_path(ws: Workspace) -> Path:
    """`.workbench/monitoring/checks.jsonl`."""
    return monitoring_dir(ws) / "checks.jsonl"


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line (the file and its folder are created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str, allow_nan=False) + "\n")


def _tail(path: Path, limit: int, block: int = 1 << 16) -> list[str]:
    """The last `limit` lines of a file, read backwards in blocks (the file may be large)."""
    with path.open("rb") as fh:
        end = fh.seek(0, 2)
        data, pos = b"", end
        while pos > 0 and data.count(b"\n") <= limit:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    return data.decode("utf-8", errors="replace").splitlines()[-limit:]


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    """The last `limit` records of a JSON-lines file, oldest first (torn lines skipped)."""
    if not path.is_file():
        return []
    lines = _tail(path, limit) if limit else path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written by another process
    return out


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
        columns = drift.get("columns") or {}
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
                "prediction drift": any(
                    c.get("drifted") for c in (drift.get("prediction_drift") or {}).values()
                ),
                "target drift": bool((drift.get("target_drift") or {}).get("drifted")),
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
