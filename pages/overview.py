"""Overview: data, the last run, quarantine, the loop (models, drift, schedule), alerts."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from app import jobs_ui, ui
from core.errors import WorkbenchError

log = logging.getLogger("workbench.ui")

st.title("Overview")
ws = ui.workspace_or_stop()
st.caption(f"Project **{ws.config.project}** · {ws.config.task} · target `{ws.config.target}`")

try:
    versions = ui.versions(ws)
    runs = ui.runs(ws)
    quarantined = ui.quarantine(ws)
    alerts = ui.alerts(ws, limit=10)
    champion = ui.current_champion(ws)
except WorkbenchError as exc:
    st.error(str(exc))
    st.stop()

latest = versions[0] if versions else None
last_run = runs[0] if runs else None

quiet = {"delta_color": "off", "delta_arrow": "off", "border": True}
cols = st.columns(5)
cols[0].metric("Data versions", len(versions), border=True)
cols[1].metric(
    "Rows in latest version",
    f"{latest.rows:,}" if latest else "-",
    latest.id if latest else "no data version yet",
    **quiet,
)
cols[2].metric(
    "Last pipeline run",
    last_run["status"] if last_run else "never",
    ui.when(last_run["started_at"]) if last_run else None,
    **quiet,
)
cols[3].metric("Quarantined batches", len(quarantined), border=True)
cols[4].metric(
    "Champion",
    f"v{champion['version']}" if champion else "none",
    champion["name"] if champion else ui.champion_text(None),
    **quiet,
)

if last_run:
    st.caption(f"Last run: {last_run['message'] or last_run['status']}")

st.subheader("The loop")
try:
    cards = jobs_ui.loop_cards(ws)
except Exception as exc:  # noqa: BLE001 - registry, monitoring or scheduler unreadable: one line
    log.exception("reading the state of the loop failed")
    st.error(f"The state of the loop cannot be read: {type(exc).__name__}: {exc}")
else:
    for start in range(0, len(cards), 3):
        row = cards[start : start + 3]
        for col, (label, value, caption) in zip(st.columns(3), row, strict=False):
            col.metric(label, value, caption, **quiet)

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

st.subheader("Recent alerts")
if alerts:
    frame = pd.DataFrame(alerts)
    frame["time"] = frame["time"].map(ui.when)
    shown = [c for c in ("time", "severity", "kind", "message") if c in frame.columns]
    ui.status_table(frame[shown], columns=())
else:
    st.caption("No alerts.")

if runs:
    st.subheader("Recent pipeline runs")
    table = pd.DataFrame(
        [
            {
                "started": ui.when(r.get("started_at")),
                "status": r.get("status"),
                "batches": len(r.get("batches", [])),
                "version": (r.get("version") or {}).get("id", ""),
                "message": r.get("message", ""),
            }
            for r in runs[:10]
        ]
    )
    ui.status_table(table)
