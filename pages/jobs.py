"""Jobs: the schedule, run now / pause / resume, live progress, history and a timeline."""

from __future__ import annotations

import streamlit as st

from app import ui
from app.views import jobs as view
from core import access
from core.config.schedules import JOB_NAMES

REFRESH_SECONDS = 2
DURATION = {"took (s)": st.column_config.NumberColumn(format="%.1f")}


def schedule_section(ws, db) -> None:
    """Scheduler state, the jobs table and the progress of running jobs (refreshed live)."""
    with ui.shown_errors("Reading the scheduler database"):
        holder = db.holder()
        overview = view.overview_frame(ws, db)
        running = db.runs(status="running", limit=None)
        leading, text = view.scheduler_text(holder)
        (st.success if leading else st.warning)(text)
        st.dataframe(
            view.style_states(overview), hide_index=True, width="stretch", column_config=DURATION
        )
        for r in running:
            st.progress(float(r["progress"] or 0.0), text=view.progress_text(r))


def controls_section(ws, db) -> None:
    st.subheader("Run, pause, resume")
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    job = left.selectbox("Job", JOB_NAMES, key="jobs_job")
    force = False
    if job == "training_pipeline":
        force = left.checkbox("Force (train even without newer data)", key="jobs_force")
    run, pause, resume = right.columns(3)
    if run.button(
        "Run now", type="primary", key="jobs_run", width="stretch", **ui.guard(access.RUN_JOB)
    ):
        view.queue(ws, db, job, "run", {"force": True} if force else {})
    if pause.button("Pause", key="jobs_pause", width="stretch", **ui.guard(access.PAUSE_JOB)):
        view.queue(ws, db, job, "pause")
    if resume.button("Resume", key="jobs_resume", width="stretch", **ui.guard(access.RESUME_JOB)):
        view.queue(ws, db, job, "resume")


def history_section(db) -> None:
    st.subheader("History")
    with ui.shown_errors("Reading the run history", stop=True):
        runs = db.runs(limit=view.HISTORY_LIMIT)
    if not runs:
        st.caption("No job runs yet.")
        return
    jobs, statuses = st.columns(2)
    chosen = jobs.multiselect("Jobs", sorted({r["job"] for r in runs}), key="jobs_filter")
    states = statuses.multiselect("Status", sorted({r["status"] for r in runs}), key="jobs_status")
    shown = view.filter_runs(runs, chosen, states)
    st.plotly_chart(view.timeline_figure(view.timeline_frame(shown)), key="jobs_timeline")
    st.dataframe(
        view.style_states(view.history_frame(shown)),
        hide_index=True,
        width="stretch",
        column_config=DURATION,
    )
    by_id = {r["id"]: r for r in shown}
    run_id = st.selectbox(
        "Run details",
        list(by_id),
        format_func=lambda i: f"run {i}: {by_id[i]['job']} {by_id[i]['status']}",
        key="jobs_detail",
    )
    row = by_id.get(run_id)
    if row:
        st.caption(view.run_caption(row))
        if row["error"]:
            st.error(row["error"])
        st.json(row["summary"] or {}, expanded=False)


st.title("Jobs")
ws, user = ui.start_page()
db = view.database(ws)
ui.show_flash()
live = st.toggle("Live refresh", value=True, key="jobs_live", help="Every 2 s")
st.fragment(schedule_section, run_every=REFRESH_SECONDS if live else None)(ws, db)
controls_section(ws, db)
history_section(db)
