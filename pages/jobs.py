"""Jobs: the schedule, run now / pause / resume, live progress, history and a timeline."""

from __future__ import annotations

import logging

import streamlit as st

from app import jobs_ui as jui
from app import ui
from core.registry.promotion import default_actor
from core.schedules import JOB_NAMES

log = logging.getLogger("workbench.ui")
FLASH = "jobs_flash"
REFRESH_SECONDS = 2


def show_failure(action: str, exc: Exception) -> None:
    log.exception("%s failed", action)
    st.error(f"{action} failed: {type(exc).__name__}: {exc}")


def schedule_section(ws, db) -> None:
    """Scheduler state, the jobs table and the progress of running jobs (refreshed live)."""
    try:
        holder = db.holder()
        overview = jui.overview_frame(ws, db)
        running = db.runs(status="running", limit=None)
    except Exception as exc:  # noqa: BLE001 - an unreadable database: one line, no traceback
        show_failure("Reading the scheduler database", exc)
        return
    leading, text = jui.scheduler_text(holder)
    (st.success if leading else st.warning)(text)
    st.dataframe(
        jui.style_states(overview),
        hide_index=True,
        width="stretch",
        column_config={"took (s)": st.column_config.NumberColumn(format="%.1f")},
    )
    for r in running:
        st.progress(
            float(r["progress"] or 0.0),
            text=f"**{r['job']}** · run {r['id']} ({r['trigger']}) · "
            f"{jui.elapsed(r['started_at'])} · {r['message'] or 'starting'}",
        )


def controls_section(db) -> None:
    st.subheader("Run, pause, resume")
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    job = left.selectbox("Job", JOB_NAMES, key="jobs_job")
    force = False
    if job == "training_pipeline":
        force = left.checkbox("Force (train even without newer data)", key="jobs_force")
    run, pause, resume = right.columns(3)
    if run.button("Run now", type="primary", key="jobs_run", width="stretch"):
        queue(db, job, "run", {"force": True} if force else {})
    if pause.button("Pause", key="jobs_pause", width="stretch"):
        queue(db, job, "pause")
    if resume.button("Resume", key="jobs_resume", width="stretch"):
        queue(db, job, "resume")


def queue(db, job: str, action: str, params: dict | None = None) -> None:
    try:
        command = db.enqueue(job, action, params, by=default_actor())
    except Exception as exc:  # noqa: BLE001 - e.g. a read-only or unreachable database
        show_failure(f"{action} {job}", exc)
        return
    st.session_state[FLASH] = f"{action.capitalize()} {job}: queued (command {command})."
    st.rerun()


def history_section(db) -> None:
    st.subheader("History")
    try:
        runs = db.runs(limit=jui.HISTORY_LIMIT)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        show_failure("Reading the run history", exc)
        return
    if not runs:
        st.caption("No job runs yet.")
        return
    jobs, statuses = st.columns(2)
    chosen = jobs.multiselect("Jobs", sorted({r["job"] for r in runs}), key="jobs_filter")
    states = statuses.multiselect("Status", sorted({r["status"] for r in runs}), key="jobs_status")
    shown = [
        r
        for r in runs
        if (not chosen or r["job"] in chosen) and (not states or r["status"] in states)
    ]
    st.plotly_chart(jui.timeline_figure(jui.timeline_frame(shown)), key="jobs_timeline")
    st.dataframe(
        jui.style_states(jui.history_frame(shown)),
        hide_index=True,
        width="stretch",
        column_config={"took (s)": st.column_config.NumberColumn(format="%.1f")},
    )
    run_id = st.selectbox(
        "Run details",
        [r["id"] for r in shown],
        format_func=lambda i: next(
            f"run {i}: {r['job']} {r['status']}" for r in shown if r["id"] == i
        ),
        key="jobs_detail",
    )
    row = next((r for r in shown if r["id"] == run_id), None)
    if row:
        took = f"{row['duration_s']:.1f} s" if row["duration_s"] is not None else "running"
        st.caption(
            f"Run {row['id']}: **{row['job']}** {row['status']} · {row['trigger']} · started "
            f"{ui.when(row['started_at'])} · {took} · by `{row['owner']}`"
        )
        if row["error"]:
            st.error(row["error"])
        st.json(row["summary"] or {}, expanded=False)


st.title("Jobs")
ws = ui.workspace_or_stop()
db = jui.database(ws)
if flash := st.session_state.pop(FLASH, None):
    st.success(flash)
live = st.toggle("Live refresh", value=True, key="jobs_live", help="Every 2 s")
st.fragment(schedule_section, run_every=REFRESH_SECONDS if live else None)(ws, db)
controls_section(db)
history_section(db)
