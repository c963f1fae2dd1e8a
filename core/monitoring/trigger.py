"""Retrain requests: a drift or performance alert (or a click) asks for a training run.

The request is one file, `.workbench/retrain_request.json`, that the scheduler consumes
(`take_request`) and executes; at most one is pending. Every decision (requested, or why not)
is appended to `.workbench/monitoring/retrain_decisions.jsonl`, and so is the outcome of each
asked-for training (`record_outcome`: trained, nothing new, failed).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from core.files import append_jsonl, atomic_write_text, read_jsonl, utc_now_iso
from core.monitoring.history import monitoring_dir
from core.workspace import Workspace


def request_path(ws: Workspace) -> Path:
    """`.workbench/retrain_request.json`: the pending request, if any."""
    return ws.state / "retrain_request.json"


def decisions_path(ws: Workspace) -> Path:
    """`.workbench/monitoring/retrain_decisions.jsonl`."""
    return monitoring_dir(ws) / "retrain_decisions.jsonl"


def pending_request(ws: Workspace) -> dict | None:
    """The pending retrain request, or None."""
    try:
        return json.loads(request_path(ws).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def record_decision(ws: Workspace, requested: bool, reason: str, **details) -> dict:
    """Append one decision (`requested`, `reason`, details) and return it."""
    decision = {"time": utc_now_iso("seconds"), "requested": requested, "reason": reason, **details}
    append_jsonl(decisions_path(ws), decision)
    return decision


def record_outcome(ws: Workspace, outcome: str, reason: str, **details) -> dict:
    """Append what an asked-for training did: `outcome` is `trained`, `nothing_new` or `failed`."""
    return record_decision(ws, True, reason, outcome=outcome, **details)


def request_retrain(ws: Workspace, trigger: str, reason: str, by: str = "monitoring", **details):
    """Ask for a training run, unless one is already pending; the decision is recorded.

    Args:
        ws: The workspace.
        trigger: What asked: `dataset_drift`, `performance`, ... or `manual`.
        reason: Why, for humans (stored in the request and the decision).
        by: Who asked (`monitoring`, or the user who clicked).
        **details: Stored with the request (check id, model version, ...).

    Returns:
        The decision record.
    """
    pending = pending_request(ws)
    if pending is not None:
        return record_decision(
            ws,
            False,
            f"a request is already pending (since {pending.get('requested_at')}: "
            f"{pending.get('reason')})",
            trigger=trigger,
            by=by,
        )
    request = {
        "id": uuid.uuid4().hex[:12],
        "requested_at": utc_now_iso("seconds"),
        "trigger": trigger,
        "reason": reason,
        "by": by,
        **details,
    }
    atomic_write_text(request_path(ws), json.dumps(request, indent=2, default=str))
    return record_decision(ws, True, reason, trigger=trigger, by=by, request_id=request["id"])


def take_request(ws: Workspace, by: str = "scheduler") -> dict | None:
    """Consume the pending request (for the scheduler, which then trains); None when none.

    The file is renamed before it is read, so two consumers cannot both take it.
    """
    path = request_path(ws)
    claimed = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.taken")
    try:
        os.replace(path, claimed)
    except FileNotFoundError:
        return None
    try:
        request = json.loads(claimed.read_text(encoding="utf-8"))
    finally:
        claimed.unlink(missing_ok=True)
    record_decision(ws, True, f"request {request.get('id')} taken by {by}", taken=True, by=by)
    return request


def read_decisions(ws: Workspace, limit: int = 100) -> list[dict]:
    """The newest retrain decisions, oldest first."""
    return read_jsonl(decisions_path(ws), limit)
