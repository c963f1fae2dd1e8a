"""Helpers of the Jobs page and the Overview's loop section: reads, frames, the timeline.

The scheduler database is read fresh on every run (a few small queries): the page follows
running jobs live, so nothing here is cached longer than a refresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from app import ui
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


# --- the loop at a glance (Overview) ----------------------------------------------------------


@st.cache_data(ttl=ui.TTL, show_spinner=False)
def _check(root: str, sig: int) -> dict | None:
    from core.monitoring.history import latest_check

    return latest_check(Workspace(Path(root))) if sig else None


def _latest_check(ws: Workspace) -> dict | None:
    from core.monitoring.history import history_path

    return _check(str(ws.root), ui.mtime(history_path(ws)))


def _model_cards(ws: Workspace) -> list[tuple[str, str, str | None]]:
    from app import registry_ui as reg
    from core.tracking import ALIAS_CHALLENGER, ALIAS_CHAMPION

    rows, metric = reg.versions(ws), ws.config.metric
    by_alias = {a: r for r in rows for a in r["aliases"]}
    champion, challenger = by_alias.get(ALIAS_CHAMPION), by_alias.get(ALIAS_CHALLENGER)
    cards = [
        (
            f"Champion test {metric}",
            reg.show(champion["test_metric"]) if champion else "-",
            f"v{champion['version']} · data {champion['data_version']}" if champion else None,
        ),
        (
            "Challenger",
            f"v{challenger['version']}" if challenger else "none",
            f"{metric} {reg.show(challenger['test_metric'])} · gates {challenger['gates']}"
            if challenger
            else "no pending challenger",
        ),
    ]
    records = reg.audit(ws)
    last = records[0] if records else None
    cards.append(
        (
            "Last promotion",
            f"v{last['from_version'] or '-'} → v{last['to_version']}" if last else "none",
            f"{ui.when(last['time'])} · {last['action']}" if last else None,
        )
    )
    return cards


def _drift_card(ws: Workspace) -> tuple[str, str, str | None]:
    check = _latest_check(ws)
    if not check:
        return "Drift", "not checked", "no check yet"
    if check.get("skipped"):
        return "Drift", "skipped", f"{ui.when(check['time'])}: too few predictions"
    drift, perf = check.get("drift") or {}, check.get("performance") or {}
    value = "YES" if drift.get("dataset_drift") else "no"
    share = f"{drift['share']:.0%} drifted · " if drift.get("share") is not None else ""
    extra = f" · {perf['metric']} {perf['value']:.3f}" if perf.get("value") is not None else ""
    return "Drift", value, f"{share}checked {ui.when(check['time'])}{extra}"


def _schedule_card(ws: Workspace) -> tuple[str, str, str | None]:
    db = database(ws)
    holder = db.holder()
    upcoming = sorted(
        (r for r in jobs_overview(db, ws) if r["next_run"] and r["state"] == "active"),
        key=lambda r: r["next_run"],
    )
    state = "scheduler running" if holder and holder["live"] else "scheduler not running"
    if not upcoming:
        return "Next scheduled run", "-", state
    nxt, later = upcoming[0], upcoming[1:]
    then = "".join(f" · then {r['job']} {ui.when(r['next_run'])}" for r in later)
    return "Next scheduled run", nxt["job"], f"{ui.when(nxt['next_run'])}{then} · {state}"


def _alerts_card(ws: Workspace) -> tuple[str, str, str | None]:
    since = datetime.now(UTC) - timedelta(hours=24)
    recent = [
        a
        for a in ui.alerts(ws, limit=500)
        if a.get("severity") in ("warning", "error")
        and datetime.fromisoformat(a["time"]).astimezone(UTC) >= since
    ]
    errors = sum(1 for a in recent if a.get("severity") == "error")
    return "Open alerts (24 h)", str(len(recent)), f"{errors} error(s)" if recent else None


def loop_cards(ws: Workspace) -> list[tuple[str, str, str | None]]:
    """(label, value, caption) cards: models, last promotion, drift, next run, open alerts."""
    return [*_model_cards(ws), _drift_card(ws), _schedule_card(ws), _alerts_card(ws)]
