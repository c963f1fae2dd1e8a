"""Serving: API status and live metrics, try a prediction, canary/shadow, challenger vs
champion, shadow agreement."""

from __future__ import annotations

import time
from datetime import timedelta

import pandas as pd
import streamlit as st

from app import ui
from app.views import serving as view
from app.views.deployment import deployment_section
from app.views.keys import keys_section
from app.views.serving_form import explanation_figure, form_text
from app.views.serving_stats import (
    parse_metrics,
    percentiles,
    request_rate,
    scrape_history,
    variant_split,
)
from core import access
from core.config.edit import update_section
from core.serving.client import ApiRejected, ApiUnreachable, ServingClient

REFRESH_SECONDS = 5
LATENCY_HELP = "Since the API started (histogram buckets)"
COLUMNS = 4
INTEGRAL = {"long", "integer"}
NUMERIC = {"double", "float"}


def status_section(ws, api: ServingClient) -> bool:
    """Reachable, ready, model, alias, challenger; False when the API does not answer."""
    st.subheader("Status")
    try:
        api.health()
    except ApiUnreachable as exc:
        st.info(
            f"The prediction API is not running or not reachable: {exc}.\n\n{view.start_hint(ws)}"
        )
        return False
    except ApiRejected as exc:
        st.warning(f"Something answers at {api.target.url}, but not as the prediction API: {exc}")
        return False
    reload_button(api)
    ready, info = api.ready(), api.model()
    cols = st.columns(4)
    cols[0].metric("Status", "ready" if ready.get("ready") else "not ready", border=True)
    cols[1].metric(
        "Model version", f"v{ready['model']}" if ready.get("model") else "-", border=True
    )
    cols[2].metric("Alias", info["alias"] if info else "-", border=True)
    challenger = ready.get("challenger")
    cols[3].metric("Challenger", f"v{challenger}" if challenger else "none", border=True)
    if ready.get("degraded"):
        st.warning(f"Degraded: {ready['degraded']} (the loaded model keeps serving).")
    if info:
        st.caption(
            f"**{info['name']}** v{info['version']} loaded {ui.when(info['loaded_at'])}. "
            + view.backend_text(info)
        )
    else:
        st.warning("No model loaded yet: the API answers 503 until a champion is registered.")
    return True


def reload_button(api: ServingClient) -> None:
    """Ask the API to check the registry aliases now (admin key)."""
    if st.button(
        "Check the registry now",
        key="serving_reload",
        **ui.guard(
            access.RELOAD_MODEL,
            disabled=not api.target.admin_key,
            help="Swap in a newly promoted champion without waiting for the next poll."
            if api.target.admin_key
            else "Needs an admin key: the secret admin_key or WORKBENCH_ADMIN_KEY",
        ),
    ):
        body = api.reload()
        swapped = "swapped in" if body["changed"] else "unchanged"
        st.success(f"Registry checked: serving v{body['version']} ({swapped}).")


def metrics_section(api: ServingClient) -> None:
    st.subheader("Live metrics")
    text = api.metrics_text()
    snapshot = parse_metrics(text, time.time())
    scrapes = view.remember(snapshot, api.target.url)
    rate = request_rate(scrapes[-2], snapshot) if len(scrapes) > 1 else None
    marks = percentiles(snapshot.buckets)
    row = st.columns(4)
    row[0].metric("Predict requests", f"{snapshot.requests_total('/predict'):,.0f}")
    row[1].metric(
        "Requests/s",
        "-" if rate is None else f"{rate:.2f}",
        help="/predict requests per second between the last two refreshes",
    )
    records = sum(snapshot.predictions.values())
    row[2].metric("Predicted records", f"{records:,.0f}")
    mean = snapshot.latency_sum / snapshot.latency_count if snapshot.latency_count else None
    row[3].metric("Mean latency", view.ms(mean))
    row = st.columns(4)
    for col, (name, value) in zip(row, marks.items(), strict=False):
        col.metric(
            f"{name} latency", view.ms(value), help="Since the API started (histogram buckets)"
        )
    row = st.columns(5)
    not_ready = snapshot.requests_total(status="503")
    row[0].metric("Rejected (4xx)", f"{snapshot.requests_total('/predict', '4'):,.0f}")
    row[1].metric(
        "Server errors (5xx)",
        f"{snapshot.requests_total(status='5') - not_ready:,.0f}",
        help="5xx answers other than 503 (not ready: counted apart)",
    )
    row[2].metric(
        "Not ready (503)",
        f"{not_ready:,.0f}",
        help="Answers while no champion was loaded yet (e.g. before the first training)",
    )
    row[3].metric("Shadow failures", f"{snapshot.errors.get('shadow', 0):,.0f}")
    others = ("shadow", "server", "not_ready")
    row[4].metric(
        "Other errors", f"{sum(v for k, v in snapshot.errors.items() if k not in others):,.0f}"
    )
    split = variant_split(snapshot)
    left, right = st.columns(2)
    if not split.empty:
        left.plotly_chart(view.split_figure(split), width="stretch")
        left.dataframe(
            split,
            hide_index=True,
            width="stretch",
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )
    else:
        left.caption("No predictions yet: the variant split appears with the first one.")
    if snapshot.latency_count:
        right.plotly_chart(view.latency_figure(snapshot, marks), width="stretch")
    history = scrape_history(scrapes)
    if len(history) > 1:
        st.plotly_chart(view.history_figure(history), width="stretch")
    else:
        st.caption(
            "The rate and latency trend need a few scrapes: press **Refresh** or turn on "
            "auto-refresh."
        )
    if snapshot.requests:
        st.plotly_chart(view.requests_figure(snapshot), width="stretch")
    phases_section(view.phase_buckets(text))


def phases_section(buckets: dict) -> None:
    """Where the time of a scoring request goes: p50 / p95 per phase since the API started."""
    st.markdown("**Where the time goes**")
    frame = view.phase_frame(buckets)
    if frame.empty or not frame["requests"].any():
        st.caption(
            "Latency by phase (parse, validate, transform, predict, log) appears after the "
            "first /predict or /invocations request."
        )
        return
    st.plotly_chart(view.phases_figure(frame), width="stretch")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "p50_ms": st.column_config.NumberColumn("p50 (ms)", format="%.3f"),
            "p95_ms": st.column_config.NumberColumn("p95 (ms)", format="%.3f"),
        },
    )
    st.caption(
        "Since the API started, from the `workbench_request_phase_seconds` histogram (50 us "
        "to 1 s buckets). Transform and predict are those of the model call that scored the "
        "request, shared with the requests micro-batched into it; the rest of a request's "
        "latency is the server's own work (routing, answering) and waits."
    )


def live_section(ws, api: ServingClient) -> None:
    """Status and metrics, refreshed on their own (a fragment)."""
    st.button("Refresh", key="serving_refresh")
    with ui.shown_errors():
        if status_section(ws, api):
            metrics_section(api)


def prediction_section(ws, api: ServingClient) -> None:
    st.subheader("Try a prediction")
    try:
        info = api.model()
    except ApiUnreachable:
        st.caption("Needs the running API (see the status above).")
        return
    if info is None:
        st.caption("No model loaded yet.")
        return
    fields = [(f["name"], f["type"]) for f in info["inputs"]]
    prefill = view.prefill(ws, fields)
    with st.form("serving_predict_form"):
        cols = st.columns(COLUMNS)
        values = {
            name: field_widget(cols[i % COLUMNS], name, kind, prefill)
            for i, (name, kind) in enumerate(fields)
        }
        missing = st.multiselect(
            "Send as missing",
            [name for name, _ in fields],
            key="serving_missing",
            help="These fields are sent as null, whatever their input shows: the model imputes "
            "them (an empty input is missing too).",
        )
        explain = st.checkbox(
            "Explain the prediction",
            value=True,
            key="serving_explain",
            help="Also ask the API how much each raw field moved the prediction (exact for "
            "LightGBM and linear models).",
        )
        submitted = st.form_submit_button(
            "Predict", type="primary", key="serving_predict", **ui.guard(access.TRY_PREDICTION)
        )
    st.caption(
        "A raw record, as the API takes it: prefilled with the latest row of the workspace's "
        "processed data; the model does its own cleaning and feature engineering. Timestamps "
        "are UTC."
    )
    if not submitted:
        return
    record = view.record(values, fields, missing)
    try:
        body, note = predict_explained(api, record, explain)
    except ApiRejected as exc:
        st.error(f"The API rejected the record ({exc.status}): {exc.detail}")
        return
    show_prediction(body, note)


def predict_explained(api: ServingClient, record: dict, explain: bool) -> tuple[dict, str | None]:
    """The API's answer, with explanations when asked, and why there are none.

    A model without them answers 422 naming `explain`; it is asked again without.
    """
    try:
        return api.predict([record], explain=explain), None
    except ApiRejected as exc:
        if not explain or exc.field != "explain":
            raise
        return api.predict([record]), exc.detail


def field_widget(col, name: str, kind: str, prefill: view.Prefill):
    """The input of one raw field, by its type in `GET /model`; returns the widget's value."""
    key, default = f"serving_field_{name}", prefill.values.get(name)
    if kind == "datetime":
        return col.datetime_input(
            f"{name} (UTC)", value=default, key=key, step=timedelta(minutes=1)
        )
    if kind in INTEGRAL:  # a stored fraction (2.5 in a long column) keeps a float input
        step = 1.0 if isinstance(default, float) else 1
        return col.number_input(f"{name} ({kind})", value=default, step=step, key=key)
    if kind in NUMERIC:
        return col.number_input(f"{name} ({kind})", value=default, format="%g", key=key)
    if kind == "boolean":
        options = [True, False]
        index = options.index(default) if default in options else None
        return col.selectbox(f"{name} ({kind})", options, index=index, key=key)
    options = list(prefill.choices.get(name, []))
    if kind == "string" and options:
        if default is not None and default not in options:
            options.append(default)
        return col.selectbox(
            f"{name} ({kind})",
            options,
            index=options.index(default) if default is not None else None,
            accept_new_options=True,
            placeholder="missing",
            key=key,
            help="The values seen in the processed data; type another one to try it.",
        )
    return col.text_input(f"{name} ({kind})", value=form_text(default), key=key)


def show_prediction(body: dict, note: str | None = None) -> None:
    st.success(view.prediction_text(body))
    st.caption(f"Request id `{body['request_id']}` (use it to send feedback).")
    explanations, probas = body.get("explanations"), body.get("probabilities")
    if explanations:
        figure = explanation_figure(explanations[0], probas[0] if probas else None)
        st.plotly_chart(figure, width="stretch", key="serving_explanation")
        st.caption(
            "The base value (the model's reference output) plus each raw field's contribution "
            "is the output. Engineered features count toward the field they come from (a "
            "feature of two fields is split equally), one-hot columns toward their field. "
            "Exact: TreeSHAP for LightGBM, coefficient x (value - reference) for linear models."
        )
    elif note:
        st.caption(f"No explanation: {note}")


def settings_section(ws) -> None:
    st.subheader("Canary and shadow")
    current = ws.config.serving.model_dump(
        include={"canary_fraction", "shadow_fraction", "poll_seconds"}
    )
    with st.form("serving_settings_form"):
        cols = st.columns(3)
        new = {
            "canary_fraction": cols[0].number_input(
                "Canary fraction (0–1)",
                value=current["canary_fraction"],
                step=0.05,
                format="%.2f",
                key="serving_canary",
                help="Share of requests answered by the challenger instead of the champion.",
            ),
            "shadow_fraction": cols[1].number_input(
                "Shadow fraction (0–1)",
                value=current["shadow_fraction"],
                step=0.05,
                format="%.2f",
                key="serving_shadow",
                help="Share of requests also scored by the challenger in the background "
                "(logged as `shadow`, never returned).",
            ),
            "poll_seconds": cols[2].number_input(
                "Poll seconds (> 0)",
                value=current["poll_seconds"],
                step=1.0,
                format="%.1f",
                key="serving_poll",
                help="How often the API checks the registry aliases.",
            ),
        }
        saved = st.form_submit_button(
            "Save settings", key="serving_save", **ui.guard(access.SERVING_SETTINGS)
        )
    st.caption(
        f"Stored in the `serving:` section of `{ws.config_path}`. The API reads them when it "
        "starts: restart it to apply them. Canary and shadow need a version with the "
        "`challenger` alias."
    )
    if not saved:
        return
    changed = {k: v for k, v in new.items() if v != current[k]}
    if not changed:
        st.info("Nothing changed.")
        return
    with ui.shown_errors():
        update_section(ws.config_path, "serving", changed)  # validated: errors name the key
        st.success(
            "Saved " + ", ".join(f"`{k}: {v:g}`" for k, v in changed.items()) + ". Restart the API "
            f"(`workbench serve --workspace {ws.root}` or `make api`) to apply."
        )


def variants_section(ws) -> None:
    st.subheader("Challenger vs champion")
    window = st.text_input(
        "Window of the prediction log",
        value=ws.config.monitoring.window,
        key="serving_variants_window",
        help="A duration (90m, 24h, 7d, 2w), a number of predictions (5000) or `all`.",
    )
    view.variants_section(ws, window.strip())


def agreement_section(ws) -> None:
    st.subheader("Shadow vs served agreement")
    pairs = view.agreement_pairs(ws)
    if pairs.empty:
        st.info(
            "No shadow predictions in the log yet. Register a challenger, set a shadow fraction "
            "above, restart the API: each shadowed request is also scored by the challenger."
        )
        return
    summary, over_time = view.agreement_tables(pairs)
    diff = pairs["probability_diff"].mean()
    cols = st.columns(3)
    cols[0].metric("Shadowed records", f"{len(pairs):,}")
    cols[1].metric("Agreement", f"{pairs['agree'].mean():.1%}")
    cols[2].metric("Mean |Δ probability|", "-" if pd.isna(diff) else f"{diff:.3f}")
    st.dataframe(
        summary,
        hide_index=True,
        width="stretch",
        column_config={"agreement": st.column_config.NumberColumn(format="percent")},
    )
    st.plotly_chart(view.agreement_figure(over_time), width="stretch")
    misses = pairs[pairs["agree"] == 0].tail(20)
    with st.expander(f"Latest disagreements ({int((pairs['agree'] == 0).sum()):,})"):
        st.dataframe(misses.iloc[::-1].astype(str), hide_index=True, width="stretch")


st.title("Serving")
ws, user = ui.start_page()
api = view.client(ws)
st.caption(f"Prediction API at `{api.target.url}`")
auto = st.toggle(f"Auto-refresh status and metrics every {REFRESH_SECONDS} s", key="serving_auto")
st.fragment(run_every=REFRESH_SECONDS if auto else None)(live_section)(ws, api)
for section, args in (
    (prediction_section, (ws, api)),
    (settings_section, (ws,)),
    (variants_section, (ws,)),
    (agreement_section, (ws,)),
    (keys_section, (ws,)),
    (deployment_section, (ws,)),
):
    with ui.shown_errors():
        section(*args)
