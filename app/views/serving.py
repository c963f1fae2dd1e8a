"""The Serving page's view: the cached API client, scrape history, cached log reads, charts.

Live API calls are never cached (the page shows the API as it is now); the client is a cached
resource, the prediction log and the form's prefill are cached on their files' signatures.
The statistics behind the charts are in `app.views.serving_stats`; the `serving:` settings the
page edits go through `core.config.edit.update_section` (the typed `serving:` section).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import pyarrow.parquet as pq
import streamlit as st
from prometheus_client.parser import text_string_to_metric_families

from app import ui
from app.views.serving_form import form_default, record_value
from app.views.serving_stats import (
    Buckets,
    MetricsSnapshot,
    agreement_over_time,
    agreement_summary,
    histogram_quantile,
    reset_between,
    shadow_pairs,
    variants_frame,
    with_agreement,
)
from core.monitoring.variants import VariantComparison, compare_variants
from core.predictions.readers import log_signature, prediction_log_source, read_predictions
from core.predictions.sinks import is_url
from core.serving.client import ApiTarget, ServingClient, resolve_target
from core.workspace import Workspace

HISTORY = "serving_scrapes"
HISTORY_MAX = 120
LOG_TTL = 30
"""Seconds a prediction log read from a database is reused."""
MAX_CHOICES = 300
PHASES = ("parse", "validate", "transform", "predict", "log")
"""A scoring request's phases in order (the API's `workbench_request_phase_seconds`)."""
PHASE_HELP = {
    "parse": "reading and decoding the body",
    "validate": "checking the records against the model's fields",
    "transform": "the model's preprocessing",
    "predict": "the estimator",
    "log": "handing the request to the prediction log (its flush thread writes it)",
}
"""Options of a text field's select box: its most frequent values (others can be typed)."""


# --- the API -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _client(url: str, api_key: str | None, admin_key: str | None) -> ServingClient:
    return ServingClient(ApiTarget(url, api_key, admin_key))


def client(ws: Workspace) -> ServingClient:
    """The API client of the workspace (see `core.serving.client.resolve_target`)."""
    t = resolve_target(ws)
    return _client(t.url, t.api_key, t.admin_key)


def start_hint(ws: Workspace) -> str:
    """How to start the API for this workspace."""
    return (
        f"Start it with `workbench serve --workspace {ws.root}` (or `make api`); set "
        "`serving.url` in `workbench.yaml` or `WORKBENCH_API_URL` if it runs elsewhere."
    )


def remember(snapshot: MetricsSnapshot, url: str) -> list[MetricsSnapshot]:
    """Append a scrape to this session's history of that URL (restart = new history)."""
    history = st.session_state.get(HISTORY)
    if not history or history[0] != url or reset_between(history[1][-1], snapshot):
        history = (url, [])
    scrapes = [*history[1], snapshot][-HISTORY_MAX:]
    st.session_state[HISTORY] = (url, scrapes)
    return scrapes


def ms(seconds: float | None) -> str:
    """Seconds as `12.3 ms` (`-` when unknown)."""
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def record(values: dict, fields: list[tuple[str, str]], missing: list[str]) -> dict:
    """The raw record the form sends: each field's widget value, None for the missing ones."""
    return {
        name: None if name in missing else record_value(values[name], kind) for name, kind in fields
    }


def prediction_text(body: dict) -> str:
    """The answer of `POST /predict` for one record, as one line."""
    model, probas = body["model"], body.get("probabilities")
    proba = f" · probability {probas[0]:.3f}" if probas else ""
    return (
        f"Prediction **{body['predictions'][0]}**{proba} · answered by **{model['name']} "
        f"v{model['version']}** (alias `{model['alias']}`, variant `{body['variant']}`)"
    )


def backend_text(info: dict) -> str:
    """What runs the served model's estimator (`GET /model`'s `backend`), as one sentence."""
    backend, reason = info.get("backend"), info.get("backend_reason")
    if not backend:
        return ""
    if backend == "lleaves":
        return "Its trees run compiled (lleaves, built at registration)."
    why = f" Compiled trees do not serve: {reason}" if reason else ""
    return f"Its estimator runs on `{backend}`.{why.rstrip('.')}{'.' if why else ''}"


# --- cached workspace reads -----------------------------------------------------------------------


@dataclass(frozen=True)
class Prefill:
    """Initial values of the prediction form, from the workspace's latest processed table."""

    values: dict = field(default_factory=dict)
    """Field -> widget value (`form_default`): the latest row, raw as the API takes it."""
    choices: dict = field(default_factory=dict)
    """Text field -> its most frequent values in the table (the options of its select box)."""


@st.cache_data(ttl=ui.TTL, show_spinner=False, max_entries=4)
def _prefill(path: str, fields: tuple[tuple[str, str], ...], sort_by: str | None, sig: int):
    names = set(pq.read_schema(path).names)
    wanted = [c for c in dict.fromkeys((*(n for n, _ in fields), sort_by)) if c in names]
    frame = pd.read_parquet(path, columns=wanted)
    if sort_by in frame.columns:
        frame = frame.sort_values(sort_by, kind="stable")
    if frame.empty:
        return Prefill()
    row = frame.iloc[-1]
    values = {n: form_default(row[n], kind) for n, kind in fields if n in frame.columns}
    choices = {
        n: sorted(frame[n].dropna().astype(str).value_counts().index[:MAX_CHOICES])
        for n, kind in fields
        if kind == "string" and n in frame.columns
    }
    return Prefill(values, choices)


def prefill(ws: Workspace, fields: list[tuple[str, str]]) -> Prefill:
    """Initial values of the prediction form for the served model's `fields` (name, type).

    The latest row of the workspace's processed table (raw values, as the API takes them, not
    model features) and the seen values of each text field; empty when there is no table.
    """
    path = ws.processed_file
    if not path.is_file():
        return Prefill()
    return _prefill(str(path), tuple(fields), ws.config.time_column, ui.mtime(path))


@st.cache_data(ttl=ui.TTL, show_spinner="Reading the prediction log")
def _agreement(source: str, task: str, sig: tuple) -> pd.DataFrame:
    return with_agreement(shadow_pairs(read_predictions(source)), task)


def _log_signature(ws: Workspace) -> tuple:
    """Changes when the log changes: its Parquet parts and feedback, or every `LOG_TTL` s."""
    source = prediction_log_source(ws)
    if is_url(source):
        return "url", int(time.time() // LOG_TTL)
    return log_signature(source)  # parts of the date partitions and the flat ones


def agreement_pairs(ws: Workspace) -> pd.DataFrame:
    """Shadow vs served pairs of the prediction log with `agree` and `probability_diff`.

    The log is the workspace's Parquet folder (cached until a new part lands) or its database
    (`serving.prediction_log_url`, re-read at most every `LOG_TTL` seconds).
    """
    return _agreement(str(prediction_log_source(ws)), ws.config.task, _log_signature(ws))


@st.cache_data(ttl=LOG_TTL, show_spinner="Comparing the variants")
def _comparison(root: str, window: str, sig: tuple) -> VariantComparison:
    return compare_variants(Workspace.open(root), window)


def variant_comparison(ws: Workspace, window: str) -> VariantComparison:
    """`compare_variants` of a window, cached until the log changes (at most `LOG_TTL` s)."""
    return _comparison(str(ws.root), window, (*_log_signature(ws), int(time.time() // LOG_TTL)))


NO_CHALLENGER = (
    "No challenger traffic in the {label}: only the champion answered. To compare, set a "
    "**canary fraction** (the challenger answers that share of requests) or a **shadow "
    "fraction** (it also scores them in the background, on the same records) under *Canary "
    "and shadow* on the Serving page, and restart the API. Only a version whose gates pass "
    "gets the `challenger` alias."
)


def variants_section(ws: Workspace, window: str, chart: bool = True) -> VariantComparison:
    """The "Challenger vs champion" table (and bar chart) of a window of the prediction log.

    Shared by the Serving and Drift pages; an info box says how to get challenger traffic
    when only the champion answered.
    """
    comparison = variant_comparison(ws, window)
    if not comparison.challenger_traffic:
        st.info(NO_CHALLENGER.format(label=comparison.label))
    if not comparison.variants:
        return comparison
    frame = variants_frame(comparison)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "agreement": st.column_config.NumberColumn(
                format="percent", help="Same answer as the champion on the same records"
            ),
            "p50 ms": st.column_config.NumberColumn(format="%.1f"),
            "p95 ms": st.column_config.NumberColumn(format="%.1f"),
            comparison.metric: st.column_config.NumberColumn(
                format="%.4f", help="Realized on the labelled rows (empty until labels arrive)"
            ),
        },
    )
    if chart and comparison.challenger_traffic:
        st.plotly_chart(variants_figure(frame, comparison.metric), width="stretch")
    st.caption(
        f"{comparison.label}: agreement pairs a shadow score with the champion's answer to the "
        "same record (a canary request has none); the realized metric counts the rows whose "
        "label has arrived."
    )
    return comparison


# --- charts --------------------------------------------------------------------------------------


def latency_figure(snapshot: MetricsSnapshot, marks: dict[str, float | None]) -> go.Figure:
    """Predict requests per latency bucket, with the percentiles as vertical lines."""
    rows, below = [], 0.0
    for bound, cumulative in snapshot.buckets:
        label = "> 2500" if bound == float("inf") else f"≤ {bound * 1000:g}"
        rows.append({"latency (ms)": label, "requests": cumulative - below})
        below = cumulative
    fig = px.bar(pd.DataFrame(rows), x="latency (ms)", y="requests", title="Predict latency")
    for name, value in marks.items():
        if value is not None:
            fig.add_annotation(
                text=f"{name} {value * 1000:.1f} ms",
                xref="paper",
                yref="paper",
                showarrow=False,
                x=1,
                y=1 - 0.08 * list(marks).index(name),
                xanchor="right",
            )
    return fig


def split_figure(split: pd.DataFrame) -> go.Figure:
    """Predicted records by version, coloured by variant."""
    frame = split.assign(version="v" + split["version"].astype(str))
    return px.bar(
        frame,
        x="version",
        y="records",
        color="variant",
        barmode="group",
        title="Predicted records by version and variant",
    )


def requests_figure(snapshot: MetricsSnapshot) -> go.Figure:
    """Requests by route, stacked by status."""
    rows = [{"route": r, "status": s, "requests": n} for (r, s), n in snapshot.requests.items()]
    frame = pd.DataFrame(rows, columns=["route", "status", "requests"]).sort_values("status")
    return px.bar(frame, x="route", y="requests", color="status", title="Requests by route")


def history_figure(history: pd.DataFrame) -> go.Figure:
    """Predict request rate and window p95 latency over this session's scrapes."""
    fig = go.Figure()
    fig.add_scatter(
        x=history["time"], y=history["rate"], name="predict requests/s", mode="lines+markers"
    )
    fig.add_scatter(
        x=history["time"],
        y=history["p95_ms"],
        name="p95 latency (ms)",
        yaxis="y2",
        mode="lines+markers",
    )
    fig.update_layout(
        title="Since this page opened",
        yaxis={"title": "requests/s", "rangemode": "tozero"},
        yaxis2={"title": "p95 ms", "overlaying": "y", "side": "right", "rangemode": "tozero"},
    )
    return fig


def agreement_figure(over_time: pd.DataFrame) -> go.Figure:
    """Agreement rate and mean |probability difference| per time bucket."""
    fig = go.Figure()
    fig.add_scatter(
        x=over_time["time"], y=over_time["agreement"], name="agreement", mode="lines+markers"
    )
    fig.add_scatter(
        x=over_time["time"],
        y=over_time["mean_probability_diff"],
        name="mean |Δ probability|",
        mode="lines+markers",
    )
    fig.update_layout(title="Shadow vs served over time", yaxis={"range": [0, 1.05]})
    return fig


def variants_figure(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Latency, agreement and realized metric per variant and version, one panel each."""
    measures = ["p50 ms", "p95 ms", "agreement", metric]
    long = frame.assign(model=frame["variant"] + " " + frame["version"]).melt(
        id_vars=["model", "variant"], value_vars=measures, var_name="measure"
    )
    long = long.dropna(subset=["value"])
    fig = px.bar(
        long,
        x="model",
        y="value",
        color="variant",
        facet_col="measure",
        category_orders={"measure": measures},
        title="Challenger vs champion",
    )
    fig.update_yaxes(matches=None, showticklabels=True, title=None)
    fig.update_xaxes(title=None)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    return fig


def agreement_tables(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-version summary and the time series of `agreement_pairs` output."""
    return agreement_summary(pairs), agreement_over_time(pairs)


# --- latency by phase ----------------------------------------------------------------------------


def phase_buckets(text: str) -> dict[str, Buckets]:
    """Each phase's cumulative buckets in a Prometheus exposition (`PHASES` order first)."""
    found: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "workbench_request_phase_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    found.setdefault(s.labels["phase"], []).append((float(s.labels["le"]), s.value))
    order = [p for p in PHASES if p in found] + sorted(set(found) - set(PHASES))
    return {p: tuple(sorted(found[p])) for p in order}


def phase_frame(buckets: dict[str, Buckets]) -> pd.DataFrame:
    """Per phase: observations, p50 and p95 in ms (from the buckets), what the phase covers."""
    rows = []
    for phase, b in buckets.items():
        p50, p95 = histogram_quantile(0.5, b), histogram_quantile(0.95, b)
        rows.append(
            {
                "phase": phase,
                "requests": int(b[-1][1]) if b else 0,
                "p50_ms": None if p50 is None else 1000 * p50,
                "p95_ms": None if p95 is None else 1000 * p95,
                "covers": PHASE_HELP.get(phase, ""),
            }
        )
    return pd.DataFrame(rows, columns=["phase", "requests", "p50_ms", "p95_ms", "covers"])


def phases_figure(frame: pd.DataFrame) -> go.Figure:
    """p50 and p95 of each phase side by side (ms), phases in request order."""
    long = frame.melt(id_vars="phase", value_vars=["p50_ms", "p95_ms"], var_name="percentile")
    long["percentile"] = long["percentile"].str.removesuffix("_ms")
    fig = px.bar(
        long,
        x="phase",
        y="value",
        color="percentile",
        barmode="group",
        title="Where the time goes (per request phase)",
        labels={"value": "ms", "phase": ""},
        category_orders={"phase": list(frame["phase"])},
    )
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=320)
    return fig
