"""Overview: data, the last run, quarantine, the loop (models, drift, schedule), incidents."""

from __future__ import annotations

import streamlit as st

from app import ui
from app.views import overview as view
from core.audit import read_events

QUIET = {"delta_color": "off", "delta_arrow": "off", "border": True}

st.title("Overview")
ws, user = ui.start_page()
st.caption(f"Project **{ws.config.project}** · {ws.config.task} · target `{ws.config.target}`")

with ui.shown_errors(stop=True):
    versions = ui.versions(ws)
    runs = ui.runs(ws)
    quarantined = ui.quarantine(ws)
    alerts = ui.alerts(ws, limit=10)
    champion = ui.current_champion(ws)

latest = versions[0] if versions else None
last_run = runs[0] if runs else None

cols = st.columns(5)
cols[0].metric("Data versions", len(versions), border=True)
cols[1].metric(
    "Rows in latest version",
    f"{latest.rows:,}" if latest else "-",
    latest.id if latest else "no data version yet",
    **QUIET,
)
cols[2].metric(
    "Last pipeline run",
    last_run["status"] if last_run else "never",
    ui.when(last_run["started_at"]) if last_run else None,
    **QUIET,
)
cols[3].metric("Quarantined batches", len(quarantined), border=True)
cols[4].metric(
    "Champion",
    f"v{champion['version']}" if champion else "none",
    champion["name"] if champion else ui.champion_text(None),
    **QUIET,
)

if last_run:
    st.caption(f"Last run: {last_run['message'] or last_run['status']}")

st.subheader("The loop")
with ui.shown_errors("Reading the state of the loop"):
    cards = view.loop_cards(ws)
    for start in range(0, len(cards), 3):
        row = cards[start : start + 3]
        for col, (label, value, caption) in zip(st.columns(3), row, strict=False):
            col.metric(label, value, caption, **QUIET)

if not versions:
    st.info(
        "**What next:** no data version yet. Put CSV or Parquet files in "
        f"`{ws.landing}` and run the data pipeline: the **Run pipeline** button on the Data "
        "page, or `workbench data run`."
    )
elif champion is None:
    st.info(
        "**What next:** data is versioned; train candidates with `workbench train` "
        "to get a champion model."
    )

st.subheader("Incidents")
st.caption(
    "One per alert condition: open while it holds (notified once, then reminded), resolved "
    "when a later check finds it clean. `workbench alerts` lists them too."
)
with ui.shown_errors("Reading the incidents"):
    incidents = view.incidents(ws)
    if incidents:
        ui.status_table(view.incidents_frame(incidents[:50]), columns=())
    else:
        st.caption("No incidents.")

st.subheader("Recent alerts")
if alerts:
    ui.status_table(view.alerts_frame(alerts, ("time", "severity", "kind", "message")), columns=())
else:
    st.caption("No alerts.")

if runs:
    st.subheader("Recent pipeline runs")
    ui.status_table(view.runs_frame(runs[:10]))


def audit_section() -> None:
    st.subheader("Audit log")
    st.caption(
        "Every change made from the UI, and every promotion and rollback (from any path): who, "
        "what, when, and whether it was done, refused (a missing role) or failed."
    )
    events = read_events(ws)
    if not events:
        st.caption("Nothing recorded yet.")
        return
    left, right = st.columns(2)
    actions = left.multiselect(
        "Actions", sorted({e["action"] for e in events}), key="audit_actions"
    )
    actors = right.multiselect("Who", sorted({e["actor"] for e in events}), key="audit_actors")
    shown = read_events(ws, actions, actors, limit=view.AUDIT_LIMIT)
    ui.status_table(view.audit_frame(shown), columns=("outcome",))


with ui.shown_errors("Reading the audit log"):
    audit_section()
