"""The Experiments page's view: the selection note, table styles and the comparison charts."""

from __future__ import annotations

import zlib

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core import experiments as ex

BEST_CSS = "background-color: #dafbe1; color: #1a7f37; font-weight: 600"
DIFF_CSS = "background-color: #fff8c5"


def widget_key(prefix: str, items) -> str:
    """A widget key that changes with the items it offers (so stale state is dropped)."""
    return f"{prefix}_{zlib.crc32(','.join(map(str, items)).encode()):08x}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def selection_text(sel: dict) -> str:
    """How the newest training chose its winner (see `core.experiments.latest_selection`)."""
    text = (
        f"**Latest training** (data version `{sel['data_version']}`): chosen on validation "
        f"`{sel['metric']}`: **{sel['candidate']}** `{sel['run_id'][:8]}` "
        f"(val {_num(sel['val'])}, test {_num(sel['test'])})"
    )
    if sel["refit"]:
        return text + (
            f", refit on train+validation and registered (refit test {_num(sel['refit_test'])})"
        )
    return text + ", registered as fitted on train"


def best_text(shown: pd.DataFrame, best: str, metric: str) -> str:
    """`★ Best by <metric> among the shown runs: <candidate> <id> = <value>`."""
    row = shown.set_index("run_id").loc[best]
    return (
        f"★ Best by `{ex.short(metric)}` among the shown runs: "
        f"**{row['candidate'] or row['run_name']}** `{best[:8]}` = {row[metric]:.4f}"
    )


def style_runs(table: pd.DataFrame, best: str | None):
    """The runs table with the best run's row highlighted."""
    return table.style.apply(
        lambda r: [BEST_CSS if r.name == best else ""] * len(r), axis=1
    ).format(precision=4)


def style_metrics(table: pd.DataFrame):
    """The metric table with the best value of each metric highlighted."""
    mask = ex.best_cells(table)
    styled = table.style.apply(lambda _: mask.map(lambda best: BEST_CSS if best else ""), axis=None)
    return styled.format(precision=4, na_rep="—")


def style_params(diff: pd.DataFrame):
    """A `param_diff` table without its `differs` column, differing rows highlighted."""
    differs = diff["differs"]
    return diff.drop(columns="differs").style.apply(
        lambda r: [DIFF_CSS if differs[r.name] else ""] * len(r), axis=1
    )


def parallel_figure(runs: pd.DataFrame, selected: list[str], metric: str) -> go.Figure:
    """Parallel coordinates of the compared runs' parameters, coloured by the metric."""
    par = ex.parallel_frame(runs, selected, metric)
    dims = []
    for name in par.frame.columns:
        dim = {"label": name, "values": par.frame[name]}
        if name in par.ticks:
            dim |= {"tickvals": list(range(len(par.ticks[name]))), "ticktext": par.ticks[name]}
        dims.append(dim)
    values = par.frame[ex.short(metric)]
    line = {"color": values, "colorscale": "Viridis", "showscale": True}
    if values.isna().all():
        line = {"color": "#1f77b4"}
    fig = go.Figure(go.Parcoords(line=line, dimensions=dims))
    fig.update_layout(margin={"l": 60, "r": 60, "t": 60, "b": 30}, height=420)
    return fig


def scatter_figure(frame: pd.DataFrame, param: str, metric: str) -> go.Figure:
    """A metric against a parameter (a `scatter_frame`), compared runs as stars."""
    fig = px.scatter(
        frame,
        x=param,
        y=metric,
        color="candidate",
        symbol="selected",
        symbol_map={True: "star", False: "circle"},
        hover_data=["run_name", "run_id"],
        labels={"selected": "compared"},
    )
    fig.update_traces(marker={"size": 9})
    return fig
