"""The Drift page's view: cached monitoring reads, its frames and charts, and its actions.

Each action (a check, a labels import, the reports of a check, retrain now) shows a
failure as one line, or keeps a message for the next run and reruns the page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import ui
from app.ui import TTL, mtime, when
from core import access
from core.monitoring import history as hist
from core.monitoring import performance as perf
from core.monitoring import trigger
from core.monitoring.check import report_for, run_check
from core.monitoring.reference import ReferenceProfile
from core.workspace import Workspace

WINDOW_TTL = 60
"""Seconds a decoded window of the prediction log is cached (new parts also invalidate it)."""


# --- cached reads ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def _history(root: str, sig: int) -> list[dict]:
    return hist.read_history(Workspace(Path(root)))


def history(ws: Workspace) -> list[dict]:
    """Check records, oldest first."""
    return _history(str(ws.root), mtime(hist.history_path(ws)))


@st.cache_data(ttl=TTL, show_spinner=False)
def _decisions(root: str, sig: int) -> list[dict]:
    return trigger.read_decisions(Workspace(Path(root)), limit=50)


def decisions(ws: Workspace) -> list[dict]:
    """Retrain decisions, oldest first."""
    return _decisions(str(ws.root), mtime(trigger.decisions_path(ws)))


@st.cache_data(ttl=TTL, show_spinner="Loading the reference profile")
def _reference(root: str, version: str, sig: int) -> ReferenceProfile:
    from core.monitoring.profiles import load_reference

    profile = load_reference(Workspace.open(root), version)
    profile.sample_frame()  # read now, so the cached object carries it
    return profile


def reference(ws: Workspace, version: str) -> ReferenceProfile:
    """The reference profile of a model version (MLflow artifact, cached locally)."""
    return _reference(str(ws.root), version, mtime(ws.mlflow_db))


def _log_signature(ws: Workspace) -> tuple:
    from core.predictions.readers import log_signature

    return log_signature(ws.predictions_dir)  # a new part in any date partition changes it


@st.cache_data(ttl=WINDOW_TTL, show_spinner="Reading the prediction log")
def _window(root: str, window: str, sig: tuple) -> tuple[pd.DataFrame, str]:
    from core.monitoring.window import log_window

    win = log_window(Workspace.open(root), window)
    return win.frame, win.label


def window_frame(ws: Workspace, window: str) -> tuple[pd.DataFrame, str]:
    """The decoded rows of a window of the prediction log, and its label."""
    return _window(str(ws.root), window, _log_signature(ws))


def clear() -> None:
    """Forget the cached monitoring state (after a check or a request)."""
    st.cache_data.clear()


# --- frames ------------------------------------------------------------------------------------


def verdict_frame(record: dict) -> pd.DataFrame:
    """One row per checked column of a history record: method, score, threshold, PSI."""
    drift = record.get("drift") or {}
    notes = record.get("notes") or {}
    rows = []
    groups = [("feature", drift.get("columns") or {})]
    groups.append(("prediction", drift.get("prediction_drift") or {}))
    if drift.get("target_drift"):
        groups.append(("target", {"target": drift["target_drift"]}))
    for role, columns in groups:
        for name, c in columns.items():
            rows.append(
                {
                    "column": name,
                    "role": role,
                    "method": c.get("method") or "skipped",
                    "score": c.get("score"),
                    "threshold": c.get("threshold"),
                    "PSI": c.get("psi"),
                    "status": "fail" if c.get("drifted") else ("pass" if c.get("method") else ""),
                    "note": notes.get(name, ""),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=["column", "role", "method", "score", "threshold", "PSI", "status", "note"],
    )
    order = frame["status"].map({"fail": 0, "pass": 1}).fillna(2)
    return frame.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def check_label(record: dict) -> str:
    """`2024-05-01 10:00 UTC · last 24h · 812 rows · drift 45%`."""
    drift = record.get("drift") or {}
    share = "skipped" if record.get("skipped") else f"drift {drift.get('share', 0):.0%}"
    rows = record.get("rows")
    return f"{when(record.get('time'))} · {record.get('label')} · {rows} rows · {share}"


def delivery_text(alert: dict) -> str:
    """How an alert was delivered: the suppression reason, or `sink status` pairs."""
    delivery = alert.get("delivery") or {}
    sent = delivery.get("sent") or {}
    return delivery.get("suppressed") or ", ".join(f"{k} {v}" for k, v in sent.items())


def alerts_frame(alerts: list[dict]) -> pd.DataFrame:
    """Alert events, newest first: time, severity, kind, message, delivery."""
    frame = pd.DataFrame(alerts)
    frame["time"] = frame["time"].map(when)
    frame["delivery"] = [delivery_text(a) for a in alerts]
    return frame[[c for c in ("time", "severity", "kind", "message", "delivery") if c in frame]]


def decisions_frame(decisions: list[dict]) -> pd.DataFrame:
    """Retrain decisions, newest first: time, requested, trigger, by, outcome, reason."""
    frame = pd.DataFrame(decisions[::-1])
    frame["time"] = frame["time"].map(when)
    columns = ("time", "requested", "trigger", "by", "outcome", "reason")
    return frame[[c for c in columns if c in frame]]


def check_message(result) -> tuple[str, str]:
    """(text, level) of a finished check: why it was skipped (warning), or its verdict."""
    if result.skipped:
        return result.skipped, "warning"
    state = "dataset drift" if result.drift.dataset_drift else "no dataset drift"
    extra = f"; {', '.join(result.fired)}" if result.fired else ""
    note = f" Report not written: {result.report_error}" if result.report_error else ""
    return f"Checked {result.window.label}: {state}{extra}.{note}", "success"


def log_checks(records: list[dict]) -> list[dict]:
    """Checks of the prediction log that ran (not skipped), newest first: those with reports."""
    return [r for r in reversed(records) if r.get("source") == "log" and not r.get("skipped")]


# --- actions -----------------------------------------------------------------------------------


def check_now(ws: Workspace, window: str, report: bool) -> None:
    """Check a window of the prediction log now; flash the verdict and rerun."""
    with ui.shown_errors("The check"):
        with (
            ui.audited(ws, access.RUN_DRIFT_CHECK, window) as details,
            st.spinner(f"Checking the last {window} of the prediction log"),
        ):
            result = run_check(ws, window, report=report)
            details.update(report=report)
        ui.flash(*check_message(result))
        clear()
        st.rerun()


def import_labels_now(ws: Workspace, upload) -> None:
    """Import an uploaded labels file; flash its summary (naming the upload) and rerun."""
    from core.monitoring.labels import import_labels

    with ui.shown_errors("The import"):
        with (
            ui.audited(ws, access.IMPORT_LABELS, upload.name) as details,
            tempfile.TemporaryDirectory() as folder,
        ):
            path = Path(folder) / Path(upload.name).name  # the file's name shows in any error
            path.write_bytes(upload.getvalue())
            done = import_labels(ws, path)
            details.update(summary=done.summary().replace(str(path), upload.name))
        ui.flash(done.summary().replace(str(path), upload.name))
        clear()
        st.rerun()


def write_reports_now(ws: Workspace, check_id: str) -> None:
    """Write the Evidently reports of a past check; flash and rerun."""
    with ui.shown_errors("The report"):
        with (
            ui.audited(ws, access.WRITE_REPORTS, f"check {check_id}"),
            st.spinner("Writing the Evidently reports of this check"),
        ):
            result = report_for(ws, check_id)
        note = f" Not written: {result.report_error}" if result.report_error else ""
        ui.flash(f"Reports of check {check_id} written.{note}")
        st.rerun()


def request_now(ws: Workspace, reason: str, force: bool = False) -> None:
    """Start a training now (the running scheduler, else a background process); flash, rerun."""
    from app.cli.training import background_training
    from core.lifecycle import request_retrain_now

    reason = reason or "requested from the Drift page"
    with ui.shown_errors("Retrain now"):
        with ui.audited(ws, access.RETRAIN, reason=reason) as details:
            started = request_retrain_now(
                ws, reason, ui.actor(), force, spawn=background_training(ws)
            )
            details.update(force=force, message=started["message"])
        ui.flash(f"Retraining started: {started['message']}", "success")
        clear()
        st.rerun()


# --- charts ------------------------------------------------------------------------------------


def share_chart(frame: pd.DataFrame, drift_share: float) -> go.Figure:
    """Share of drifted columns per check, with the dataset drift threshold."""
    fig = px.line(
        frame,
        x="time",
        y="share",
        markers=True,
        hover_data=["window", "rows", "drifted columns", "dataset drift"],
        labels={"share": "share of drifted columns"},
    )
    fig.add_hline(
        y=drift_share, line_dash="dash", line_color="red", annotation_text="dataset drift"
    )
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(height=320, margin={"t": 20, "b": 20})
    return fig


def heatmap(matrix: pd.DataFrame, field: str) -> go.Figure:
    """Checks (x) × features (y), coloured by a per-column field."""
    data = matrix.astype(float).T
    fig = px.imshow(
        data,
        aspect="auto",
        color_continuous_scale="Reds",
        labels={"x": "check", "y": "feature", "color": field},
        x=[t.strftime("%Y-%m-%d %H:%M") for t in data.columns],
    )
    fig.update_layout(height=max(300, 22 * len(data.index)), margin={"t": 20, "b": 20})
    return fig


def overlay_chart(frame: pd.DataFrame, column: str, numeric: bool) -> go.Figure:
    """Reference vs current shares of one column, overlaid."""
    fig = go.Figure()
    for name, colour in (("reference", "#1f77b4"), ("current", "#d62728")):
        fig.add_bar(x=frame["value"], y=frame[name], name=name, marker_color=colour, opacity=0.6)
    fig.update_layout(
        barmode="overlay",
        bargap=0.02 if numeric else 0.2,
        height=340,
        margin={"t": 30, "b": 20},
        title=column,
        yaxis_tickformat=".0%",
    )
    return fig


def performance_chart(series: pd.DataFrame, metric: str, baseline: float | None) -> go.Figure:
    """The metric per time bucket (labelled predictions only), with the baseline."""
    fig = px.line(series, x="start", y=metric, markers=True, hover_data=["labelled"])
    if baseline is not None:
        fig.add_hline(y=baseline, line_dash="dash", line_color="green", annotation_text="baseline")
    fig.update_layout(height=320, margin={"t": 20, "b": 20})
    return fig


def performance_series(frame: pd.DataFrame, ws: Workspace) -> tuple[pd.DataFrame, str]:
    """The watched metric per configured bucket over a window's labelled rows."""
    cfg = ws.config
    metric = cfg.monitoring.performance.metric or cfg.metric
    series = perf.over_time(frame, cfg.target, cfg.task, metric, cfg.monitoring.performance.bucket)
    return series, metric


# --- performance before labels -----------------------------------------------------------------


def estimate_frame(record: dict) -> pd.DataFrame:
    """One row per estimated metric of a check: estimated, realized (once labels arrived)."""
    est = record.get("estimated_performance") or {}
    perf = record.get("performance") or {}
    realized = perf.get("metrics") or {}
    watched = (record.get("estimate") or {}).get("metric") or perf.get("metric")
    rows = [
        {
            "metric": name,
            "watched": name == watched,
            "estimated": value,
            "realized": realized.get(name),
            "difference": None
            if value is None or realized.get(name) is None
            else realized[name] - value,
        }
        for name, value in est.items()
    ]
    return pd.DataFrame(rows, columns=["metric", "watched", "estimated", "realized", "difference"])


def estimate_caption(record: dict) -> str:
    """How the estimate was made and what it assumes; the prediction shift against the holdout."""
    est = record.get("estimate") or {}
    parts = []
    if est.get("metrics"):
        how = f"{est.get('assumption')} ({est.get('calibration')})"
        parts.append(f"Estimated before labels, {how}.")
    shift = est.get("prediction_shift")
    if shift:
        state = "shifted" if shift.get("shifted") else "no shift"
        parts.append(
            f"Predictions vs the holdout's: KS {shift['ks']:.3f} (p {shift['p_value']:.3g}), "
            f"PSI {shift['psi']:.3f}, mean {shift['current_mean']:.4g} vs "
            f"{shift['reference_mean']:.4g}: {state}."
        )
    if est.get("note"):
        parts.append(f"Note: {est['note']}.")
    return " ".join(parts)


def estimate_series(records: list[dict]) -> pd.DataFrame:
    """Per check of the log: the watched metric estimated and (when labelled) realized."""
    rows = []
    for r in records:
        est, perf = r.get("estimate") or {}, r.get("performance") or {}
        if r.get("skipped") or est.get("value") is None:
            continue
        rows.append(
            {
                "time": pd.Timestamp(r["time"]),
                "estimated": est["value"],
                "realized": (perf.get("metrics") or {}).get(est.get("metric")),
                "metric": est.get("metric"),
            }
        )
    return pd.DataFrame(rows, columns=["time", "estimated", "realized", "metric"])


def estimate_chart(series: pd.DataFrame) -> go.Figure:
    """The watched metric estimated before labels beside the realized one, per check."""
    long = series.melt(id_vars=["time", "metric"], value_vars=["estimated", "realized"])
    fig = px.line(long.dropna(), x="time", y="value", color="variable", markers=True)
    metric = series["metric"].iloc[0] if len(series) else ""
    fig.update_layout(height=300, margin={"t": 20, "b": 20}, yaxis_title=metric)
    return fig


# --- attribution drift -------------------------------------------------------------------------


def attribution_frame(record: dict) -> pd.DataFrame:
    """One row per raw field of a check's attribution drift, in the reference's order.

    Columns: field, reference and current share of the importance, their ranks, the move.
    """
    from core.monitoring.attribution import current_order, reference_order

    found = record.get("attribution_drift") or {}
    ref, cur = found.get("reference_importance") or {}, found.get("current_importance") or {}
    columns = ["field", "reference", "current", "reference rank", "current rank", "moved"]
    if not ref:
        return pd.DataFrame(columns=columns)
    where = {f: i + 1 for i, f in enumerate(current_order(ref, cur))} if cur else {}
    rows = []
    for rank, name in enumerate(reference_order(ref), 1):
        now = where.get(name)
        rows.append(
            {
                "field": name,
                "reference": ref[name],
                "current": cur.get(name),
                "reference rank": rank,
                "current rank": now,
                "moved": None if now is None else rank - now,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def attribution_chart(frame: pd.DataFrame) -> go.Figure:
    """Reference vs current share of the importance per field, ranked as the reference ranks.

    Each field is labelled with its rank on both sides (`carrier  #1 → #4`).
    """
    labels = [
        f"{name}  #{ref} → #{'' if pd.isna(cur) else int(cur)}"
        for name, ref, cur in zip(
            frame["field"], frame["reference rank"], frame["current rank"], strict=True
        )
    ]
    fig = go.Figure()
    for name, colour in (("reference", "#1f77b4"), ("current", "#d62728")):
        fig.add_bar(y=labels, x=frame[name], name=name, orientation="h", marker_color=colour)
    fig.update_layout(
        barmode="group",
        height=max(300, 34 * len(frame)),
        margin={"t": 40, "b": 20},
        xaxis_title="share of the importance",
        xaxis_tickformat=".0%",
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0},
    )
    return fig


def attribution_caption(record: dict) -> str:
    """The verdict (nDCG against the threshold), the method, the rows and the cost."""
    found = record.get("attribution_drift") or {}
    if found.get("ndcg") is None:
        return f"Attribution not compared: {found.get('note') or 'no reference importance'}."
    state = "attribution drift" if found.get("drifted") else "no attribution drift"
    sign = "<" if found.get("drifted") else "≥"
    return (
        f"nDCG {found['ndcg']:.3f} {sign} threshold {found['threshold']:.2f}: {state}. "
        f"Importance: {found.get('method_description') or found.get('method')}; "
        f"{found.get('rows', 0):,} window rows against {found.get('reference_rows', 0):,} "
        f"held-out rows of the model version ({found.get('ms', 0):.0f} ms). nDCG (as SageMaker "
        "Clarify computes it) is 1 when the window ranks the fields as the reference does; "
        "swapping fields the model hardly uses costs little, losing its top field a lot."
    )


def ndcg_series(records: list[dict]) -> pd.DataFrame:
    """Per check with an attribution verdict: time, nDCG, threshold."""
    rows = [
        {"time": pd.Timestamp(r["time"]), "nDCG": a["ndcg"], "threshold": a.get("threshold")}
        for r in records
        if (a := r.get("attribution_drift") or {}).get("ndcg") is not None
    ]
    return pd.DataFrame(rows, columns=["time", "nDCG", "threshold"])


def ndcg_chart(series: pd.DataFrame) -> go.Figure:
    """The nDCG of each check's importance ranking, with the (latest) threshold."""
    fig = px.line(series, x="time", y="nDCG", markers=True)
    if len(series):
        threshold = float(series["threshold"].iloc[-1])
        fig.add_hline(
            y=threshold, line_dash="dash", line_color="red", annotation_text="attribution drift"
        )
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(height=260, margin={"t": 20, "b": 20})
    return fig


def attribution_section(record: dict, records: list[dict]) -> None:
    """The Drift page's attribution drift: verdict, ranking chart, table, nDCG over time."""
    found = record.get("attribution_drift")
    if not found:
        return
    title = "Attribution drift: " + ("yes" if found.get("drifted") else "no")
    with st.expander(title, expanded=bool(found.get("drifted"))):
        frame = attribution_frame(record)
        if found.get("ndcg") is not None:
            left, right = st.columns(2)
            left.metric("Importance ranking nDCG", f"{found['ndcg']:.3f}", border=True)
            right.metric("Threshold", f"{found['threshold']:.2f}", border=True)
            st.plotly_chart(attribution_chart(frame), width="stretch")
        st.caption(attribution_caption(record))
        series = ndcg_series(records)
        if len(series) > 1:
            st.plotly_chart(ndcg_chart(series), width="stretch")
