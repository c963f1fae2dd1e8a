"""Drift: check history, per-column verdicts, distributions, performance (champion rows),
challenger vs champion, report, alerts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import ui
from app.views import drift as view
from app.views import serving as serving_view
from core import access
from core.monitoring import history as hist
from core.monitoring.check import report_folder
from core.monitoring.trigger import pending_request
from core.monitoring.views import overlay

REPORT_FILES = {
    "Data drift": "report.html",
    "Model performance (labelled predictions)": "performance.html",
}
FORMAT = st.column_config.NumberColumn(format="%.4g")
CHAMPION_ONLY = (
    "champion rows only: canary and shadow rows are compared under *Challenger vs champion* "
    "(Distributions & performance)"
)


def controls(ws) -> str:
    left, mid, right = st.columns([3, 2, 2], vertical_alignment="bottom")
    window = left.text_input(
        "Window of the prediction log",
        value=ws.config.monitoring.window,
        key="drift_window",
        help="A duration (90m, 24h, 7d, 2w), a number of predictions (5000) or `all`.",
    )
    report = mid.checkbox("with the Evidently report", key="drift_with_report")
    if right.button(
        "Run check now",
        type="primary",
        key="drift_run",
        width="stretch",
        **ui.guard(access.RUN_DRIFT_CHECK),
    ):
        view.check_now(ws, window.strip(), report)
    return window.strip()


def summary(record: dict) -> None:
    drift, perf = record.get("drift") or {}, record.get("performance") or {}
    columns = drift.get("columns") or {}
    drifted = sum(1 for c in columns.values() if c.get("drifted"))
    cols = st.columns(4)
    cols[0].metric(
        "Dataset drift",
        "yes" if drift.get("dataset_drift") else "no",
        f"{drifted} of {len(columns)} columns",
        delta_color="off",
        border=True,
    )
    cols[1].metric("Drifted share", f"{drift.get('share', 0):.0%}", border=True)
    cols[2].metric("Rows in window", f"{record.get('rows', 0):,}", border=True)
    if perf.get("value") is not None:
        drop = perf.get("drop")
        cols[3].metric(
            perf["metric"],
            f"{perf['value']:.4f}",
            None if drop is None else f"{-drop:+.1%} vs baseline",
            border=True,
        )
    elif (record.get("estimate") or {}).get("value") is not None:
        est = record["estimate"]
        cols[3].metric(f"{est['metric']} (estimated)", f"{est['value']:.4f}", border=True)
    else:
        cols[3].metric("Performance", "no labels", border=True)
    st.caption(f"Latest check: {view.check_label(record)} · {CHAMPION_ONLY}")
    estimate_section(record)


def estimate_section(record: dict) -> None:
    caption = view.estimate_caption(record)
    if not caption:
        return
    with st.expander("Performance estimated before labels", expanded=True):
        frame = view.estimate_frame(record)
        if not frame.empty:
            st.dataframe(
                frame,
                hide_index=True,
                width="stretch",
                column_config={"estimated": FORMAT, "realized": FORMAT, "difference": FORMAT},
            )
        st.caption(caption)


def history_section(records: list[dict], drift_share: float) -> None:
    st.subheader("Drift over time")
    frame = hist.history_frame(records)
    frame = frame[frame["skipped"].isna()]
    if frame.empty:
        st.caption("Every check so far was skipped (too few predictions in its window).")
        return
    st.plotly_chart(view.share_chart(frame, drift_share), width="stretch")
    estimates = view.estimate_series(records)
    if not estimates.empty:
        st.markdown("**Watched metric: estimated before labels vs realized**")
        st.plotly_chart(view.estimate_chart(estimates), width="stretch")
    field = st.radio(
        "Heatmap colour", ["psi", "drifted"], horizontal=True, key="drift_heatmap_field"
    )
    matrix = hist.feature_matrix(records, field)
    if not matrix.empty:
        st.plotly_chart(view.heatmap(matrix, field), width="stretch")


def columns_section(records: list[dict]) -> None:
    st.subheader("Columns of a check")
    checks = [r for r in reversed(records) if not r.get("skipped")]
    if not checks:
        return
    picked = st.selectbox(
        "Check",
        range(len(checks)),
        format_func=lambda i: view.check_label(checks[i]),
        key="drift_check",
    )
    ui.status_table(
        view.verdict_frame(checks[picked]),
        column_config={"score": FORMAT, "threshold": FORMAT, "PSI": FORMAT},
    )
    st.caption(
        "Score: p-value for ks / chisquare / z (drift below the threshold), distance for "
        "wasserstein / jensenshannon / psi (drift at or above it). PSI is always reported."
    )


def distributions_section(ws, window: str, champion: dict | None) -> None:
    st.subheader("Reference vs current")
    if champion is None:
        st.info("No champion yet: train a model to get a reference profile.")
        return
    profile = view.reference(ws, champion["version"])
    frame, label = view.window_frame(ws, window)
    if frame.empty:
        st.info(f"No predictions in the {label}.")
        return
    shown = [c for c in profile.columns if c in frame.columns]
    column = st.selectbox("Feature", shown, key="drift_feature")
    ref = profile.columns[column]
    st.plotly_chart(
        view.overlay_chart(overlay(ref, frame[column]), column, ref.kind == "numeric"),
        width="stretch",
    )
    st.caption(
        f"Reference: v{champion['version']}'s held-out rows ({profile.rows:,}); current: the "
        f"{label} ({len(frame):,} predictions, {CHAMPION_ONLY})."
    )
    performance_section(ws, frame, profile)


def labels_import(ws) -> None:
    with st.expander("Import labels (request_id, actual[, time])"):
        upload = st.file_uploader(
            "Labels file",
            type=["csv", "parquet"],
            key="drift_labels_file",
            **ui.guard(access.IMPORT_LABELS),
        )
        if st.button(
            "Import",
            key="drift_labels_import",
            **ui.guard(access.IMPORT_LABELS, disabled=upload is None),
        ):
            view.import_labels_now(ws, upload)


def performance_section(ws, frame: pd.DataFrame, profile) -> None:
    st.subheader("Performance over time")
    labels_import(ws)
    series, metric = view.performance_series(frame, ws)
    if series.empty:
        st.caption(
            "No labels yet: send actuals with POST /feedback, `workbench labels FILE`, or the "
            "import above."
        )
        return
    baseline = (profile.performance or {}).get(metric)
    st.plotly_chart(view.performance_chart(series, metric, baseline), width="stretch")
    st.caption(f"The champion's labelled predictions ({CHAMPION_ONLY}).")


def variants_section(ws, window: str) -> None:
    st.subheader("Challenger vs champion")
    serving_view.variants_section(ws, window, chart=False)


def report_section(records: list[dict], ws) -> None:
    st.subheader("Evidently report")
    checks = view.log_checks(records)
    if not checks:
        st.caption("No check of the prediction log yet: run one above.")
        return
    picked = st.selectbox(
        "Check",
        range(len(checks)),
        format_func=lambda i: view.check_label(checks[i]),
        key="drift_report",
    )
    folder = report_folder(ws, checks[picked]["id"])
    kinds = {k: folder / f for k, f in REPORT_FILES.items() if (folder / f).is_file()}
    if not kinds:
        st.caption("This check has no report yet.")
        if st.button(
            "Write its Evidently reports",
            key="drift_report_write",
            **ui.guard(access.WRITE_REPORTS),
        ):
            view.write_reports_now(ws, checks[picked]["id"])
        return
    kind = st.radio("Show", list(kinds), horizontal=True, key="drift_report_kind")
    html = kinds[kind].read_text(encoding="utf-8")
    name = kinds[kind].name
    st.download_button("Download HTML", html, file_name=name, key="drift_report_download")
    st.iframe(html, height=900)


def alerts_section(ws) -> None:
    st.subheader("Alerts")
    alerts = ui.alerts(ws, limit=50)
    if alerts:
        ui.status_table(view.alerts_frame(alerts), columns=())
    else:
        st.caption("No alerts.")


def retrain_section(ws) -> None:
    st.subheader("Retraining")
    pending = pending_request(ws)
    if pending:
        st.info(
            f"A training run is requested ({ui.when(pending.get('requested_at'))}, "
            f"{pending.get('trigger')}: {pending.get('reason')}); the next training run takes it."
        )
    left, mid, right = st.columns([4, 1, 1], vertical_alignment="bottom")
    reason = left.text_input("Reason", key="drift_retrain_reason")
    force = mid.checkbox(
        "Force",
        key="drift_retrain_force",
        help="Train even when a version was trained on the same data, config and code.",
    )
    if right.button(
        "Retrain now", key="drift_retrain", width="stretch", **ui.guard(access.RETRAIN)
    ):
        view.request_now(ws, reason.strip(), force)
    st.caption(
        "Retrain now starts a training within seconds: on the running scheduler (a run on the "
        "Jobs page), else in a background process (log in `.workbench/retrain.log`)."
    )
    decisions = view.decisions(ws)
    if decisions:
        st.dataframe(view.decisions_frame(decisions), hide_index=True, width="stretch")


st.title("Drift")
ws, user = ui.start_page()
ui.show_flash()
window = controls(ws)
with ui.shown_errors(stop=True):
    records = view.history(ws)
    champion = ui.current_champion(ws)
if records:
    summary(records[-1])
    view.attribution_section(records[-1], records)
else:
    st.info(
        "No drift check yet: press **Run check now**, or run `workbench drift` (the scheduler "
        "checks on its own once configured)."
    )
history_tab, columns_tab, dist_tab, report_tab, alerts_tab = st.tabs(
    ["History", "Columns", "Distributions & performance", "Report", "Alerts & retraining"]
)
with history_tab:
    if records:
        history_section(records, ws.config.monitoring.drift.share)
with columns_tab:
    columns_section(records)
with dist_tab, ui.shown_errors("Reading the window"):
    distributions_section(ws, window, champion)
with dist_tab, ui.shown_errors("Comparing the variants"):
    variants_section(ws, window)
with report_tab:
    report_section(records, ws)
with alerts_tab:
    alerts_section(ws)
    retrain_section(ws)
