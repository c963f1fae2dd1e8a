"""Serving: API status and live metrics, try a prediction, canary/shadow, shadow agreement."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from app import serving_ui as sui
from app import ui
from app.deploy_ui import deployment_section
from app.serving_client import ApiRejected, ApiUnreachable, ServingClient, field_value
from core.errors import WorkbenchError
from core.serving_stats import percentiles, request_rate, scrape_history, variant_split

log = logging.getLogger("workbench.ui")

REFRESH_SECONDS = 5
COLUMNS = 4


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def status_section(ws, api: ServingClient) -> bool:
    """Reachable, ready, model, alias, challenger; False when the API does not answer."""
    st.subheader("Status")
    try:
        api.health()
    except ApiUnreachable as exc:
        st.info(
            f"The prediction API is not running or not reachable: {exc}.\n\n{sui.start_hint(ws)}"
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
        st.caption(f"**{info['name']}** v{info['version']} loaded {ui.when(info['loaded_at'])}.")
    else:
        st.warning("No model loaded yet: the API answers 503 until a champion is registered.")
    return True


def reload_button(api: ServingClient) -> None:
    """Ask the API to check the registry aliases now (admin key)."""
    if st.button(
        "Check the registry now",
        key="serving_reload",
        disabled=not api.target.admin_key,
        help="Swap in a newly promoted champion without waiting for the next poll."
        if api.target.admin_key
        else "Needs WORKBENCH_ADMIN_KEY or serving.admin_key",
    ):
        body = api.reload()
        swapped = "swapped in" if body["changed"] else "unchanged"
        st.success(f"Registry checked: serving v{body['version']} ({swapped}).")


def metrics_section(api: ServingClient) -> None:
    st.subheader("Live metrics")
    snapshot = api.metrics()
    scrapes = sui.remember(snapshot, api.target.url)
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
    row[3].metric("Mean latency", _ms(mean))
    row = st.columns(4)
    for col, (name, value) in zip(row, marks.items(), strict=False):
        col.metric(f"{name} latency", _ms(value), help="Since the API started (histogram buckets)")
    row = st.columns(4)
    row[0].metric("Rejected (4xx)", f"{snapshot.requests_total('/predict', '4'):,.0f}")
    row[1].metric("Server errors (5xx)", f"{snapshot.requests_total(status='5'):,.0f}")
    row[2].metric("Shadow failures", f"{snapshot.errors.get('shadow', 0):,.0f}")
    row[3].metric(
        "Other errors",
        f"{sum(v for k, v in snapshot.errors.items() if k not in ('shadow', 'server')):,.0f}",
    )
    split = variant_split(snapshot)
    left, right = st.columns(2)
    if not split.empty:
        left.plotly_chart(sui.split_figure(split), width="stretch")
        left.dataframe(
            split,
            hide_index=True,
            width="stretch",
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )
    else:
        left.caption("No predictions yet: the variant split appears with the first one.")
    if snapshot.latency_count:
        right.plotly_chart(sui.latency_figure(snapshot, marks), width="stretch")
    history = scrape_history(scrapes)
    if len(history) > 1:
        st.plotly_chart(sui.history_figure(history), width="stretch")
    else:
        st.caption(
            "The rate and latency trend need a few scrapes: press **Refresh** or turn on "
            "auto-refresh."
        )
    if snapshot.requests:
        st.plotly_chart(sui.requests_figure(snapshot), width="stretch")


def live_section(ws, api: ServingClient) -> None:
    """Status and metrics, refreshed on their own (a fragment)."""
    st.button("Refresh", key="serving_refresh")
    if guarded(status_section, ws, api):
        guarded(metrics_section, api)


def guarded(section, *args):
    """Run a section; a failure is one error line, never a traceback."""
    try:
        return section(*args)
    except WorkbenchError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken read or an odd answer: one line
        log.exception("the Serving page failed in %s", section.__name__)
        st.error(f"{type(exc).__name__}: {exc}")
    return None


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
    example = sui.example_record(ws, [n for n, _ in fields])
    with st.form("serving_predict_form"):
        cols = st.columns(COLUMNS)
        texts = {
            name: cols[i % COLUMNS].text_input(
                f"{name} ({kind})", value=example.get(name, ""), key=f"serving_field_{name}"
            )
            for i, (name, kind) in enumerate(fields)
        }
        submitted = st.form_submit_button("Predict", type="primary", key="serving_predict")
    st.caption(
        "Prefilled with the latest row of the workspace's features. An empty field is a missing "
        "value (the model imputes it); a value of the wrong type is sent as typed, so the API "
        "names the field."
    )
    if not submitted:
        return
    record = {name: field_value(texts[name], kind) for name, kind in fields}
    try:
        body = api.predict([record])
    except ApiRejected as exc:
        st.error(f"The API rejected the record ({exc.status}): {exc.detail}")
        return
    show_prediction(body)


def show_prediction(body: dict) -> None:
    model, probas = body["model"], body.get("probabilities")
    proba = f" · probability {probas[0]:.3f}" if probas else ""
    st.success(
        f"Prediction **{body['predictions'][0]}**{proba} · answered by **{model['name']} "
        f"v{model['version']}** (alias `{model['alias']}`, variant `{body['variant']}`)"
    )
    st.caption(f"Request id `{body['request_id']}` (use it to send feedback).")


def settings_section(ws) -> None:
    st.subheader("Canary and shadow")
    current = sui.current_settings(ws)
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
        saved = st.form_submit_button("Save settings", key="serving_save")
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
    try:
        sui.save_settings(ws, changed)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.success(
        "Saved " + ", ".join(f"`{k}: {v:g}`" for k, v in changed.items()) + ". Restart the API "
        f"(`workbench serve --workspace {ws.root}` or `make api`) to apply."
    )


def agreement_section(ws) -> None:
    st.subheader("Shadow vs served agreement")
    pairs = sui.agreement_pairs(ws)
    if pairs.empty:
        st.info(
            "No shadow predictions in the log yet. Register a challenger, set a shadow fraction "
            "above, restart the API: each shadowed request is also scored by the challenger."
        )
        return
    summary, over_time = sui.agreement_tables(pairs)
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
    st.plotly_chart(sui.agreement_figure(over_time), width="stretch")
    misses = pairs[pairs["agree"] == 0].tail(20)
    with st.expander(f"Latest disagreements ({int((pairs['agree'] == 0).sum()):,})"):
        st.dataframe(misses.iloc[::-1].astype(str), hide_index=True, width="stretch")


st.title("Serving")
ws = ui.workspace_or_stop()
api = sui.client(ws)
st.caption(f"Prediction API at `{api.target.url}`")
auto = st.toggle(f"Auto-refresh status and metrics every {REFRESH_SECONDS} s", key="serving_auto")
st.fragment(run_every=REFRESH_SECONDS if auto else None)(live_section)(ws, api)
guarded(prediction_section, ws, api)
guarded(settings_section, ws)
guarded(agreement_section, ws)
guarded(deployment_section, ws)
