"""The Jobs page's view: the scheduler database, its frames, the timeline, the queue flow.

The scheduler database is read fresh on every run (a few small queries): the page follows
running jobs live, so nothing here is cached longer than a refresh.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import ui
from core import access
from core.jobs import JobsDB, jobs_overview, run_text
from core.workspace import Workspace

HISTORY_LIMIT = 300
"""Runs read for the history table and the timeline."""
STATE_COLOURS = {
    "active": "background-color: #dafbe1; color: #1a7f37",
    "paused": "background-color: #fff8c5; color: #9a6700",
    "disabled": "color: #6e7781",
    "running": "background-color: #ddf4ff; color: #0969da",
    "skipped": "color: #6e7781",
    "interrupted": "background-color: #fff8c5; color: #9a6700",
    "missed": "background-color: #fff8c5; color: #9a6700",
}
TIMELINE_COLOURS = {
    "ok": "#2da44e",
    "running": "#0969da",
    "skipped": "#8c959f",
    "failed": "#cf222e",
    "interrupted": "#bf8700",
    "missed": "#fb8500",
}


def database(ws: Workspace) -> JobsDB:
    """The workspace's scheduler database (nothing is created by reading it)."""
    return JobsDB.for_workspace(ws)


def scheduler_text(holder: dict | None) -> tuple[bool, str]:
    """Whether a scheduler leads now, and a sentence saying so."""
    if holder and holder["live"]:
        return True, (
            f"Scheduler **running**: `{holder['owner']}` (since {ui.when(holder['acquired_at'])});"
            " commands apply within seconds."
        )
    return False, (
        "**No scheduler is running**: commands are queued and apply when it starts "
        "(`workbench scheduler`, `make scheduler`, or `workbench up`)."
    )


def overview_frame(ws: Workspace, db: JobsDB) -> pd.DataFrame:
    """One row per job: schedule, state, next run, last run and its status."""
    rows = jobs_overview(db, ws)
    return pd.DataFrame(
        [
            {
                "job": r["job"],
                "schedule": r["schedule"],
                "state": r["state"],
                "next run": ui.when(r["next_run"]),
                "last run": ui.when(r["last_started"]),
                "status": r["last_status"] or "",
                "took (s)": r["last_duration_s"],
                "SLA": f"{r['sla_minutes']:g} min" if r["sla_minutes"] else "",
                "last error": r["last_error"] or "",
            }
            for r in rows
        ]
    )


def history_frame(runs: list[dict]) -> pd.DataFrame:
    """The run history as a table (newest first)."""
    columns = ["run", "job", "trigger", "started", "took (s)", "status", "attempt", "summary"]
    rows = [
        {
            "run": r["id"],
            "job": r["job"],
            "trigger": r["trigger"],
            "started": ui.when(r["started_at"]),
            "took (s)": r["duration_s"],
            "status": r["status"],
            "attempt": r["attempt"],
            "summary": r["error"] or run_text(r),
        }
        for r in runs
    ]
    return pd.DataFrame(rows, columns=columns)


def timeline_frame(runs: list[dict], now: datetime | None = None) -> pd.DataFrame:
    """Start and end of each run (a running one ends now; instant ones get a visible second)."""
    now = now or datetime.now(UTC)
    rows = []
    for r in runs:
        start = datetime.fromisoformat(r["started_at"])
        end = datetime.fromisoformat(r["finished_at"]) if r["finished_at"] else now
        end = max(end, start + pd.Timedelta(seconds=1))
        rows.append(
            {
                "job": r["job"],
                "start": start,
                "end": end,
                "status": r["status"],
                "run": r["id"],
                "trigger": r["trigger"],
                "summary": (r["error"] or run_text(r))[:120],
            }
        )
    return pd.DataFrame(
        rows, columns=["job", "start", "end", "status", "run", "trigger", "summary"]
    )


def timeline_figure(frame: pd.DataFrame):
    """A Gantt chart of the runs by job, coloured by status."""
    import plotly.express as px

    fig = px.timeline(
        frame,
        x_start="start",
        x_end="end",
        y="job",
        color="status",
        color_discrete_map=TIMELINE_COLOURS,
        hover_data={"run": True, "trigger": True, "summary": True},
    )
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend_title=None)
    return fig


def style_states(frame: pd.DataFrame):
    """Colour the state and status cells."""
    colours = {**ui.STATUS_COLOURS, **STATE_COLOURS}
    subset = [c for c in ("state", "status") if c in frame.columns]
    if frame.empty or not subset:
        return frame
    return frame.style.map(lambda v: colours.get(str(v), ""), subset=subset)


def elapsed(started_at: str, now: datetime | None = None) -> str:
    """`42 s` / `3 min 5 s` since an ISO time."""
    seconds = int(((now or datetime.now(UTC)) - datetime.fromisoformat(started_at)).total_seconds())
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def progress_text(run: dict, now: datetime | None = None) -> str:
    """The label of a running job's progress bar."""
    return (
        f"**{run['job']}** · run {run['id']} ({run['trigger']}) · "
        f"{elapsed(run['started_at'], now)} · {run['message'] or 'starting'}"
    )


def filter_runs(runs: list[dict], jobs: list[str], statuses: list[str]) -> list[dict]:
    """The runs of the chosen jobs and statuses (an empty choice keeps every one)."""
    return [
        r
        for r in runs
        if (not jobs or r["job"] in jobs) and (not statuses or r["status"] in statuses)
    ]


def run_caption(run: dict) -> str:
    """One run's details: job, status, trigger, start, duration, owner."""
    took = f"{run['duration_s']:.1f} s" if run["duration_s"] is not None else "running"
    return (
        f"Run {run['id']}: **{run['job']}** {run['status']} · {run['trigger']} · started "
        f"{ui.when(run['started_at'])} · {took} · by `{run['owner']}`"
    )


JOB_ACTIONS = {"run": access.RUN_JOB, "pause": access.PAUSE_JOB, "resume": access.RESUME_JOB}
"""A scheduler command → its `core.access` action."""


def queue(ws, db: JobsDB, job: str, action: str, params: dict | None = None) -> None:
    """Queue a command for the scheduler (audited as the signed-in user); flash it and rerun."""
    with ui.shown_errors(f"{action} {job}"):
        with ui.audited(ws, JOB_ACTIONS[action], job) as details:
            command = db.enqueue(job, action, params, by=ui.actor())
            details.update(command=command, params=params or {})
        ui.flash(f"{action.capitalize()} {job}: queued (command {command}).")
        st.rerun()
