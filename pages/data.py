"""Data: validation results, quarantine, versions, profiles, comparisons, pipeline runs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import ui
from app.views import data as view
from core import access
from core.data.pipeline import STAGES, latest_batch_run, validate_table
from core.data.readers import read_bytes_table
from core.data.validation import render_html


def validation_tab(ws, runs: list[dict]) -> None:
    wanted = st.query_params.get("batch")  # a Lineage link: the run that validated that batch
    ids = [{b.get("batch_id") for b in r.get("batches", [])} for r in runs]
    run = next((r for r, i in zip(runs, ids, strict=True) if wanted in i), None)
    run = run or latest_batch_run(runs)
    if runs and runs[0]["status"] == "noop":
        st.info(
            f"Last run {ui.when(runs[0]['started_at'])}: nothing new ({runs[0]['message']})."
            + (" Showing the last run that had batches." if run else "")
        )
    if run is None:
        st.info("No batch validated yet: land files and press **Run pipeline**.")
        return
    st.markdown(
        f"**Run `{run['run_id']}`** · {ui.when(run['started_at'])} · "
        f"**{run['status']}**: {run['message']}"
    )
    ui.status_table(view.batches_frame(run))
    viewable = []
    for stage in STAGES:
        reports = view.stage_reports(run, stage)
        if not reports:
            continue
        pairs = [(name, rep) for name, rep, _ in reports]
        counts = view.status_counts(pairs)
        st.subheader(
            f"{stage}: {counts['pass']} pass · {counts['warn']} warn · {counts['fail']} fail"
        )
        ui.status_table(view.results_frame(pairs))
        view.failing_rows_expanders(pairs)
        viewable += [(f"{name} · {stage} ({rep.status})", rep, path) for name, rep, path in reports]
    report_viewer(viewable)


def report_viewer(viewable: list[tuple[str, object, str]]) -> None:
    if not viewable:
        return
    st.subheader("HTML report")
    default = next((i for i, (_, rep, _) in enumerate(viewable) if rep.status != "pass"), 0)
    label = st.selectbox("Report", [v[0] for v in viewable], index=default)
    _, rep, path = next(v for v in viewable if v[0] == label)
    html = ui.report_html(path, rep)
    st.download_button(
        "Download HTML report",
        html,
        file_name=view.report_file_name(path),
        mime="text/html",
        on_click="ignore",
    )
    st.iframe(html, height=520)


def quarantine_tab(ws) -> None:
    items = ui.quarantine(ws)
    if not items:
        st.success("No quarantined batches.")
        return
    st.caption(f"Rejected batches are kept with their report in `{ws.quarantine}`.")
    st.dataframe(view.quarantine_frame(items), hide_index=True, width="stretch")


def versions_tab(versions) -> None:
    if not versions:
        st.info("No data version yet: run the data pipeline.")
        return
    st.dataframe(view.versions_frame(versions), hide_index=True, width="stretch")


def pick_version(versions, label: str, index: int = 0, key: str | None = None):
    labels = [view.version_label(v) for v in versions]
    chosen = st.selectbox(label, labels, index=min(index, len(labels) - 1), key=key)
    return versions[labels.index(chosen)]


def profile_tab(ws, versions) -> None:
    if not versions:
        st.info("No data version yet: run the data pipeline.")
        return
    left, right = st.columns([3, 1])
    with left:
        version = pick_version(versions, "Version", key="profile_version")
    which = right.radio("Table", ["features", "processed"], horizontal=True, key="profile_table")
    summary = ui.version_profile(ws, version, which)
    st.dataframe(
        summary, width="stretch", column_config=_share_columns(["missing_share", "top_share"])
    )
    column = st.selectbox("Distribution of", list(summary.index), key="profile_column")
    sample = ui.plot_sample(ws, version, which)
    if len(sample) < version.rows:
        st.caption(f"Plotted on a random sample of {len(sample):,} of {version.rows:,} rows.")
    categorical = summary.loc[column, "kind"] == "categorical"
    st.plotly_chart(view.distribution_figure(sample, column, categorical), width="stretch")


def _share_columns(names: list[str]) -> dict:
    return {n: st.column_config.NumberColumn(n, format="percent") for n in names}


def compare_tab(ws, versions) -> None:
    if len(versions) < 2:
        st.info("Comparing needs two data versions; run the pipeline on new data first.")
        return
    left, right = st.columns(2)
    with left:
        a = pick_version(versions, "Reference (A)", index=1, key="compare_a")
    with right:
        b = pick_version(versions, "Compared (B)", index=0, key="compare_b")
    which = st.radio("Table", ["features", "processed"], horizontal=True, key="compare_table")
    with st.spinner("Reading versions from DVC"):
        cmp = ui.compare_versions(ws, a, b, which)
    cols = st.columns(3)
    cols[0].metric("Rows A", f"{cmp.rows_a:,}")
    cols[1].metric("Rows B", f"{cmp.rows_b:,}", f"{cmp.rows_delta:+,}")
    cols[2].metric("Columns added / removed", f"{len(cmp.added)} / {len(cmp.removed)}")
    if cmp.added or cmp.removed:
        st.caption(
            f"Added: {', '.join(cmp.added) or '-'} · removed: {', '.join(cmp.removed) or '-'}"
        )
    table = cmp.columns
    numeric = table[table["kind"] == "numeric"]
    categorical = table[table["kind"] != "numeric"]
    st.subheader("Numeric columns")
    st.dataframe(
        numeric.filter(regex="^(mean|std|missing_share)_"),
        width="stretch",
        column_config=_share_columns(["missing_share_a", "missing_share_b", "missing_share_delta"]),
    )
    st.subheader("Categorical and datetime columns")
    st.dataframe(
        categorical.filter(regex="^(top_share|missing_share)_"),
        width="stretch",
        column_config=_share_columns([c for c in table.columns if "share" in c]),
    )


def validate_file_tab(ws) -> None:
    st.caption("Check a file against the configured rules of one stage; nothing is ingested.")
    stage = st.selectbox("Stage", list(STAGES), key="adhoc_stage")
    upload = st.file_uploader(
        "CSV or Parquet file",
        type=["csv", "parquet", "pq"],
        key="adhoc_file",
        **ui.guard(access.VALIDATE_FILE),
    )
    if upload is None:
        return
    with ui.shown_errors(stop=True):
        frame = read_bytes_table(upload.getvalue(), upload.name)
        rep = validate_table(ws, frame, stage, upload.name)
    show = {"pass": st.success, "warn": st.warning}.get(rep.status, st.error)
    show(rep.summary_line())
    pairs = [(upload.name, rep)]
    ui.status_table(view.results_frame(pairs))
    view.failing_rows_expanders(pairs)
    st.download_button(
        "Download HTML report",
        render_html(rep),
        file_name=f"{Path(upload.name).stem}_{stage}.html",
        mime="text/html",
        on_click="ignore",
    )


st.title("Data")
ws, user = ui.start_page()
head, button = st.columns([5, 1], vertical_alignment="center")
if button.button(
    "Run pipeline",
    type="primary",
    width="stretch",
    key="data_run_pipeline",
    **ui.guard(access.RUN_PIPELINE),
):
    view.run_pipeline_now(ws)
with ui.shown_errors(stop=True):
    versions = ui.versions(ws)
    runs = ui.runs(ws)
latest = versions[0] if versions else None
head.caption(
    (f"Latest data version **{latest.id}** · {latest.rows:,} rows · " if latest else "")
    + f"landing zone `{ws.landing}`"
)

sections = {
    "Validation": lambda: validation_tab(ws, runs),
    "Quarantine": lambda: quarantine_tab(ws),
    "Versions": lambda: versions_tab(versions),
    "Profile": lambda: profile_tab(ws, versions),
    "Compare": lambda: compare_tab(ws, versions),
    "Validate a file": lambda: validate_file_tab(ws),
}
tabs = st.tabs(list(sections), key="tab", bind="query-params")  # lazy: only the open tab runs
for tab, render in zip(tabs, sections.values(), strict=True):
    if tab.open:
        with tab, ui.shown_errors():
            render()
