"""Experiments: candidate runs (filter, search, sort, pages) and a shareable run comparison.

A training chooses its winner on the validation metric (the test split is an untouched holdout),
so the page says so above the table, ranks by `val_<metric>` by default and puts each metric's
validation score before its test score.

The compared runs live in the URL (`?runs=<id>,<id>`): the table's row selection writes it,
and a shared link selects the same rows. `exp_epoch` in the session bumps when the selection
changes outside the table, so the table is rebuilt with the new selection as its default.
"""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from app import ui
from app.views import experiments as view
from app.views.experiments import widget_key as _key
from core import experiments as ex

PAGE_SIZE = 50
MAX_PLOT_RUNS = 12
NEWEST = "newest first"


def _bump_epoch() -> None:
    st.session_state["exp_epoch"] = st.session_state.get("exp_epoch", 0) + 1


def _table_selected(key: str, page_ids: list[str]) -> None:
    """Merge the visible page's row selection into the selection kept in the URL."""
    picked = [page_ids[i] for i in st.session_state[key]["selection"]["rows"]]
    current = ui.query_list("runs")
    kept = [r for r in current if r not in page_ids or r in picked]
    ui.set_query_list("runs", kept + [r for r in picked if r not in kept])


def _set_selection(values: list[str]) -> None:
    ui.set_query_list("runs", values)
    _bump_epoch()


def filters(runs: pd.DataFrame, optimised: str) -> tuple[pd.DataFrame, str | None]:
    """The search, filter and sort widgets; returns the shown runs and the ranking metric."""
    search, cands, versions, sort, order = st.columns([3, 2, 2, 2, 1], vertical_alignment="bottom")
    text = search.text_input("Search", placeholder="run id, name, candidate, diagnosis…")
    chosen = cands.multiselect("Candidate", sorted(set(runs["candidate"]) - {""}))
    data = versions.multiselect("Data version", sorted(set(runs["data_version"]) - {""}))
    metrics = [ex.short(c) for c in ex.metric_columns(runs)]
    default = ex.default_metric(runs, optimised)
    options = [NEWEST, *metrics]
    by = sort.selectbox(
        "Sort by", options, index=options.index(ex.short(default)) if default else 0
    )
    reverse = order.toggle("Reverse")
    column = None if by == NEWEST else f"metrics.{by}"
    shown = ex.sort_runs(ex.filter_runs(runs, text, chosen, data), column, reverse)
    return shown, column or default


def selection_note(runs: pd.DataFrame, optimised: str | None) -> None:
    """How the newest training chose its winner: on validation; test only reported."""
    sel = ex.latest_selection(runs, optimised)
    if sel is None:
        return
    st.markdown(view.selection_text(sel))
    st.caption(
        "Each training picks its winner by the validation metric only. The test split is an "
        "untouched holdout: reported for every candidate, never used to choose; the promotion "
        "gates score the registered model on it."
    )


def runs_table(shown: pd.DataFrame, metric: str | None, selected: list[str]) -> None:
    """One page of runs, the best one starred; selecting rows sets the compared runs."""
    best = ex.best_run(shown, metric) if metric else None
    if best:
        st.markdown(view.best_text(shown, best, metric))
    number, pages = 1, ex.page_of(shown, 1, PAGE_SIZE)[1]
    if pages > 1:
        label = f"Page (of {pages})"
        number = st.number_input(label, 1, pages, 1, key=f"exp_page_{len(shown)}", width=160)
    rows, _ = ex.page_of(shown, int(number), PAGE_SIZE)
    table = ex.runs_table(rows, best, metric)
    page_ids = list(table.index)
    key = _key(f"exp_table_{st.session_state.get('exp_epoch', 0)}", page_ids)
    st.dataframe(
        view.style_runs(table, best),
        key=key,
        on_select=functools.partial(_table_selected, key, page_ids),
        selection_mode="multi-row",
        selection_default={
            "selection": {"rows": [i for i, r in enumerate(page_ids) if r in selected]}
        },
        hide_index=True,
        column_config={
            "best": st.column_config.TextColumn("★", help=f"Best by {ex.short(metric or '')}"),
            "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "winner": st.column_config.CheckboxColumn(
                help="Chosen on validation in its training; registered (refit on "
                "train+validation when it has refit_test metrics)"
            ),
            "overfit": st.column_config.CheckboxColumn(help="Diagnosed as overfit"),
        },
    )
    first = (int(number) - 1) * PAGE_SIZE
    st.caption(
        f"Runs {first + 1:,}–{first + len(rows):,} of {len(shown):,} shown · select rows to "
        "compare them; the selection is kept in the page link."
    )


def metrics_section(runs: pd.DataFrame, selected: list[str], metric: str | None) -> None:
    st.dataframe(view.style_metrics(ex.metric_table(runs, selected, metric)), width="stretch")
    st.caption(
        "Best value per metric highlighted (lower is better for errors and costs). `val_*` "
        "chose each training's winner; `test_*` is the untouched holdout; `refit_test_*` is "
        "the holdout score of the winner refit on train+validation (the registered model)."
    )


def params_section(runs: pd.DataFrame, selected: list[str]) -> None:
    diff = ex.param_diff(runs, selected)
    only = st.toggle("Only parameters that differ", key="exp_only_diff")
    shown = diff[diff["differs"]] if only else diff
    st.dataframe(view.style_params(shown), width="stretch")
    st.caption(f"{int(diff['differs'].sum())} of {len(diff)} parameters differ (highlighted).")


def parallel_chart(runs: pd.DataFrame, selected: list[str], metric: str) -> None:
    st.plotly_chart(view.parallel_figure(runs, selected, metric), width="stretch")


def scatter_chart(
    runs: pd.DataFrame, shown: pd.DataFrame, selected: list[str], metric: str
) -> None:
    params = list(ex.param_diff(runs, selected).index)
    metrics = [ex.short(c) for c in ex.metric_columns(runs)]
    left, right = st.columns(2)
    param = left.selectbox("Parameter (x)", params, key=_key("exp_scatter_param", params))
    y = right.selectbox("Metric (y)", metrics, index=metrics.index(ex.short(metric)))
    frame = ex.scatter_frame(runs, param, y, selected, among=list(shown["run_id"]))
    if frame.empty:
        st.caption(f"No shown run logged both `{param}` and `{y}`.")
        return
    st.plotly_chart(view.scatter_figure(frame, param, y), width="stretch")
    st.caption("Shown and compared runs that logged the parameter; compared runs are stars.")


def plots_section(tracking_uri: str, labels: dict[str, str]) -> None:
    if len(labels) > MAX_PLOT_RUNS:
        st.caption(f"Plots of the first {MAX_PLOT_RUNS} compared runs.")
        labels = dict(list(labels.items())[:MAX_PLOT_RUNS])
    plots = {rid: dict(ui.run_plots(tracking_uri, rid)) for rid in labels}
    kinds = sorted({name for found in plots.values() for name in found})
    if not kinds:
        st.caption("None of the compared runs logged plots.")
        return
    kind = st.pills(
        "Plot",
        kinds,
        default=kinds[0],
        format_func=lambda name: name.removesuffix(".png"),
        key=_key("exp_plot", kinds),
    )
    kind = kind or kinds[0]
    columns = st.columns(min(len(labels), 3))
    for i, (rid, label) in enumerate(labels.items()):
        with columns[i % len(columns)]:
            if kind in plots[rid]:
                st.image(plots[rid][kind], caption=label, width="stretch")
            else:
                st.caption(f"{label}: no `{kind}`")


def comparison(
    ws, runs: pd.DataFrame, shown: pd.DataFrame, selected: list[str], metric: str | None
) -> None:
    labels = ex.run_labels(runs, selected)
    st.header(f"Comparison of {len(selected)} run{'s' * (len(selected) != 1)}")
    keep, clear = st.columns([5, 1], vertical_alignment="bottom")
    keep.multiselect(
        "Compared runs",
        selected,
        default=selected,
        format_func=labels.get,
        key=_key("exp_compared", selected),
        on_change=lambda k: _set_selection(st.session_state[k]),
        args=(_key("exp_compared", selected),),
    )
    clear.button("Clear selection", on_click=_set_selection, args=([],), width="stretch")
    sections = {
        "Metrics": lambda: metrics_section(runs, selected, metric),
        "Parameters": lambda: params_section(runs, selected),
        "Parallel coordinates": lambda: parallel_chart(runs, selected, metric),
        "Metric vs parameter": lambda: scatter_chart(runs, shown, selected, metric),
        "Plots": lambda: plots_section(ws.tracking_uri, labels),
    }
    if not metric:
        del sections["Parallel coordinates"], sections["Metric vs parameter"]
    for title, render in sections.items():
        st.subheader(title)
        with ui.shown_errors():
            render()


st.title("Experiments")
ws, user = ui.start_page()
head, button = st.columns([5, 1], vertical_alignment="center")
if button.button("Refresh", width="stretch", help="Read the runs from MLflow again"):
    ui.refresh_experiment_runs()
with ui.shown_errors(stop=True):
    runs = ui.experiment_runs(ws)
if runs.empty:
    st.info(
        f"No candidate runs in the MLflow experiment **{ws.config.project}** yet. Train "
        "candidates with `workbench train` (each candidate model becomes a run here), then "
        "press **Refresh**."
    )
    st.stop()
head.caption(
    f"Experiment **{ws.config.project}** · {len(runs):,} candidate runs from "
    f"{ex.count_trainings(runs):,} trainings · `{ws.tracking_uri}`"
)

wanted = ui.query_list("runs")
known = set(runs["run_id"])
selected = [r for r in wanted if r in known]
if len(selected) < len(wanted):
    missing = ", ".join(f"`{r}`" for r in wanted if r not in known)
    st.warning(
        f"Not in this experiment (ignored): {missing}. Runs logged in the last "
        f"{ui.RUNS_TTL} s show after **Refresh**."
    )
selection_note(runs, ws.config.metric)
shown, metric = filters(runs, ws.config.metric)
if shown.empty:
    st.info("No run matches the filters.")
else:
    runs_table(shown, metric, selected)
if selected:
    comparison(ws, runs, shown, selected, metric)
