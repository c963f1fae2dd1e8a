"""One audit log of changes: who did what to which target, when, with what outcome and why.

`<ws>/.workbench/audit.jsonl` is append-only JSON lines (opened in append mode, fsynced, never
rewritten); `read_events` reads it newest first, skipping a line torn by a crash. Every
mutating path appends one event per attempt: done (`ok`), refused for a missing role
(`refused`), or failed (`failed`, the error's one line as the reason). Promotions and rollbacks
are events too (`core.registry.audit.append_audit` writes them here as well as into the
registry's detailed promotion history).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.access import PermissionDenied
from core.errors import one_line
from core.files import append_jsonl, read_jsonl, utc_now_iso
from core.workspace import Workspace

AUDIT_FILE = "audit.jsonl"
OK, FAILED, REFUSED = "ok", "failed", "refused"
EXPORT_LABELS = "export labels"
"""The action of a feedback export (`workbench labels export`, the `feedback_export` job): it
needs no role of its own (`core.access.ACTIONS`), but it lands a batch, so it is recorded."""
FIELDS = ("time", "actor", "action", "target", "outcome", "reason", "source", "details")
"""The keys of every event, in this order."""


def audit_log_path(ws: Workspace) -> Path:
    """Where the workspace's audit log lives."""
    return ws.state / AUDIT_FILE


def record_event(
    ws: Workspace,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = OK,
    reason: str = "",
    source: str = "",
    details: dict | None = None,
) -> dict:
    """Append one event to the audit log and return it.

    Args:
        ws: the workspace.
        actor: who acted (the signed-in user, else the OS user, or `scheduler`).
        action: what was done (a `core.access` action where there is one).
        target: what it was done to (a job, a model version, a file), "" when the workspace.
        outcome: `ok`, `failed` or `refused`.
        reason: the reason given, or why it failed or was refused.
        source: where it came from: `ui`, `cli`, `scheduler`, `api`.
        details: anything else worth keeping (JSON-safe values).
    """
    event = {
        "time": utc_now_iso("seconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "reason": reason,
        "source": source,
        "details": details or {},
    }
    append_jsonl(audit_log_path(ws), event, fsync=True)
    return event


@contextmanager
def audited(
    ws: Workspace,
    actor: str,
    action: str,
    target: str = "",
    reason: str = "",
    source: str = "",
    record_ok: bool = True,
) -> Iterator[dict]:
    """Record the block as one event: `ok` when it ends, `refused`/`failed` when it raises.

    Yields a dict the block may fill with details (a run id, counts, ...). The exception is
    re-raised after it is recorded; a `PermissionDenied` is recorded as `refused`.
    `record_ok=False`: only a refusal or failure is recorded (the block records its success
    itself, as a promotion does through the registry).
    """
    details: dict = {}
    try:
        yield details
    except Exception as exc:
        outcome = REFUSED if isinstance(exc, PermissionDenied) else FAILED
        why = f"{reason}: {one_line(exc)}" if reason else one_line(exc)
        record_event(ws, actor, action, target, outcome, why, source, details)
        raise
    if record_ok:
        record_event(ws, actor, action, target, OK, reason, source, details)


def read_events(
    ws: Workspace,
    actions: list[str] | None = None,
    actors: list[str] | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Audit events, newest first, only the given actions and actors when given.

    Args:
        ws: the workspace.
        actions: keep only these actions (None or empty: all).
        actors: keep only these actors (None or empty: all).
        limit: at most this many events (after filtering).
    """
    events = [
        e
        for e in reversed(read_jsonl(audit_log_path(ws)))
        if (not actions or e.get("action") in actions) and (not actors or e.get("actor") in actors)
    ]
    return events[:limit] if limit is not None else events
