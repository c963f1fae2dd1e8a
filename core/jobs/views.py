"""Rows and one-line texts of jobs and runs, for `workbench jobs` and the pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config.schedules import JOB_NAMES
from core.jobs.tables import EVENT_TRIGGERS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.jobs.store import JobsDB
    from core.workspace import Workspace


def jobs_overview(db: JobsDB, ws: Workspace) -> list[dict]:
    """One row per job for `jobs list` and the Jobs page: schedule, next run, state, last run.

    The configured schedule is used for jobs the scheduler has not mirrored yet.
    """
    mirrored, last = db.schedule(), db.last_runs()
    cfg = ws.config.schedules
    rows = []
    for name in JOB_NAMES:
        spec, seen, run = cfg.job(name), mirrored.get(name) or {}, last.get(name) or {}
        if not spec.enabled:
            state = "disabled"
        elif seen.get("paused"):
            state = "paused"
        elif not (spec.cron or spec.interval_seconds):
            state = "on event" if name in EVENT_TRIGGERS else "on demand"
        else:
            state = "active" if seen else "not scheduled yet"
        schedule = spec.describe(cfg.timezone)
        if name in EVENT_TRIGGERS:
            timed = spec.cron or spec.interval_seconds
            schedule = EVENT_TRIGGERS[name] + (f" and {schedule}" if timed else "")
        rows.append(
            {
                "job": name,
                "schedule": schedule,
                "state": state,
                "next_run": seen.get("next_run_at"),
                "sla_minutes": spec.sla_minutes,
                "last_status": run.get("status"),
                "last_started": run.get("started_at"),
                "last_duration_s": run.get("duration_s"),
                "last_error": run.get("error"),
                "progress": run.get("progress") if run.get("status") == "running" else None,
                "message": run.get("message") if run.get("status") == "running" else None,
            }
        )
    return rows


def _training_text(s: dict) -> str:
    if s.get("promoted"):
        outcome = f"promoted to champion ({s.get('promotion_reason')})"
    else:
        failed = "; ".join(s.get("gates_failed") or [])
        outcome = f"gates {s.get('gates')}" + (f": {failed}" if failed else "")
    return f"v{s['version']} {s.get('best')}: {outcome}"


def _deploy_text(s: dict) -> str:
    if s.get("mode") == "docker":
        previous = f"; {s['previous']} kept for rollback" if s.get("previous") else ""
        return f"{s.get('live')} serves v{s.get('version')} at {s.get('url')}{previous}"
    reloaded = " (reloaded)" if s.get("reloaded") else ""
    return f"API at {s.get('url')} serves v{s.get('version')}{reloaded}"


def _drift_text(s: dict) -> str:
    share = s.get("drift_share")
    text = f"drift {'YES' if s.get('dataset_drift') else 'no'}"
    text += f" (share {share:.0%})" if share is not None else ""
    if s.get("performance") is not None:
        text += f", {s.get('performance_metric')} {s['performance']:.3f}"
    return text + (" · retraining requested" if s.get("retrain_requested") else "")


def run_text(row: dict) -> str:
    """One line of a run: its progress while it runs, else what it did or why it skipped."""
    s = row.get("summary") or {}
    if row["status"] == "running":
        return f"{(row.get('progress') or 0):.0%} {row.get('message') or ''}".strip()
    if row["status"] == "ok":
        if row["job"] == "training_pipeline" and s.get("version"):
            return _training_text(s)
        if row["job"] == "deploy" and (s.get("reachable") or s.get("mode") == "docker"):
            return _deploy_text(s)
        if row["job"] == "drift_check":
            return _drift_text(s)
    return next((str(s[k]) for k in ("message", "reason", "note") if s.get(k)), "")
