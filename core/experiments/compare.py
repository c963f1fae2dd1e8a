"""Comparing selected runs: metrics side by side, parameter differences, chart frames, plots.

Every function takes the frame `load_runs` returned and a list of run ids; runs are labelled
`<candidate> · <run id[:8]>` (see `run_labels`) wherever they become columns.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.experiments.runs import (
    NEUTRAL_METRICS,
    M,
    P,
    check_server,
    lower_is_better,
    metric_columns,
    metric_order,
    param_columns,
    short,
    store_error,
)

PLOTS_DIR = "plots"
MISSING = "∅"
"""How a parameter a run did not log is shown in comparisons."""


def run_labels(df: pd.DataFrame, run_ids: list[str]) -> dict[str, str]:
    """`<candidate or run name> · <run id[:8]>` per known run id, in the given order."""
    rows = df.set_index("run_id")
    return {
        rid: f"{rows.at[rid, 'candidate'] or rows.at[rid, 'run_name'] or 'run'} · {rid[:8]}"
        for rid in run_ids
        if rid in rows.index
    }


def _selected(df: pd.DataFrame, run_ids: list[str]) -> pd.DataFrame:
    labels = run_labels(df, run_ids)
    return df.set_index("run_id").loc[list(labels)].rename(index=labels)


def metric_table(df: pd.DataFrame, run_ids: list[str], metric: str | None = None) -> pd.DataFrame:
    """Metrics as rows, the selected runs as columns (labelled by `run_labels`).

    Rows in `metric_order`: with `metric` (e.g. `val_roc_auc`) its splits come first, the
    validation score the winner was chosen by, then test, refit_test and train. Metrics none
    of the runs logged are left out.
    """
    columns = metric_order(metric_columns(df), metric)
    sel = _selected(df, run_ids)[columns].dropna(axis=1, how="all")
    table = sel.T
    table.index = [short(c) for c in table.index]
    table.index.name = "metric"
    return table


def best_cells(table: pd.DataFrame) -> pd.DataFrame:
    """True where a `metric_table` cell is its row's best (lower-is-better honoured).

    Ties are all true; a row with fewer than two values, or of a `NEUTRAL_METRICS` fact,
    has no best.
    """
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    for metric, values in table.iterrows():
        if values.notna().sum() < 2 or metric in NEUTRAL_METRICS:
            continue
        target = values.min() if lower_is_better(str(metric)) else values.max()
        mask.loc[metric] = values == target
    return mask


def param_diff(df: pd.DataFrame, run_ids: list[str]) -> pd.DataFrame:
    """Parameters as rows, the selected runs as columns, plus a boolean `differs` column.

    A parameter a run did not log shows as `MISSING` and counts as a different value.
    Differing parameters come first.
    """
    sel = _selected(df, run_ids)[param_columns(df)].dropna(axis=1, how="all")
    table = sel.T.fillna(MISSING).astype(str)
    table.index = [short(c) for c in table.index]
    table.index.name = "param"
    table["differs"] = table.nunique(axis=1) > 1
    return table.sort_values("differs", ascending=False, kind="stable")


@dataclass
class Parallel:
    """Selected runs as numbers, for parallel coordinates."""

    frame: pd.DataFrame
    """One column per parameter (numeric-encoded) and the metric last, one row per run."""
    ticks: dict[str, list[str]] = field(default_factory=dict)
    """For categorical parameters: the label of code 0, 1, ...."""


def _category_order(value: str) -> tuple:
    """Numbers by value, then text, then `MISSING` last."""
    number = pd.to_numeric(value, errors="coerce")
    return (value == MISSING, pd.isna(number), 0.0 if pd.isna(number) else number, value)


def encode(values: pd.Series) -> tuple[pd.Series, list[str] | None]:
    """Numbers as floats; anything else (or any missing) as sorted category codes + labels."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return numbers.astype(float), None
    text = values.fillna(MISSING).astype(str)
    order = sorted(text.unique(), key=_category_order)
    return text.map({v: i for i, v in enumerate(order)}).astype(float), order


def parallel_frame(
    df: pd.DataFrame, run_ids: list[str], metric: str, max_params: int = 12
) -> Parallel:
    """The selected runs' differing parameters (all, if none differ) and `metric`, encoded."""
    diff = param_diff(df, run_ids)
    names = list(diff.index[diff["differs"]] if diff["differs"].any() else diff.index)
    sel = _selected(df, run_ids)
    out, ticks = pd.DataFrame(index=sel.index), {}
    for name in names[:max_params]:
        out[name], labels = encode(sel[P + name])
        if labels is not None:
            ticks[name] = labels
    column = metric if metric.startswith(M) else M + metric
    out[short(column)] = sel[column].astype(float) if column in sel else np.nan
    return Parallel(out, ticks)


def scatter_frame(
    df: pd.DataFrame,
    param: str,
    metric: str,
    selected: list[str] | None = None,
    among: list[str] | None = None,
) -> pd.DataFrame:
    """Runs that logged both `param` and `metric`, for a metric-vs-parameter scatter.

    Only runs in `among` (when given) or `selected` are kept. Columns: run_id, run_name,
    candidate, the param (numeric when every value is), the metric, and `selected` (whether
    the run is in `selected`).
    """
    p, m = P + short(param), M + short(metric)
    if p not in df.columns or m not in df.columns:
        return pd.DataFrame(columns=["run_id", "run_name", "candidate", short(p), short(m)])
    keep = df[p].notna() & df[m].notna()
    if among is not None:
        keep &= df["run_id"].isin(set(among) | set(selected or []))
    rows = df[keep]
    numbers = pd.to_numeric(rows[p], errors="coerce")
    out = rows[["run_id", "run_name", "candidate"]].copy()
    out[short(p)] = numbers if numbers.notna().all() else rows[p].astype(str)
    out[short(m)] = rows[m]
    out["selected"] = out["run_id"].isin(selected or [])
    return out.reset_index(drop=True)


def run_plots(tracking_uri: str, run_id: str) -> list[tuple[str, bytes]]:
    """The PNG files a run logged under `plots/`, as (file name, bytes); [] when it has none.

    Raises:
        TrackingUnavailable: The store or the artifact location cannot be read.
    """
    check_server(tracking_uri)
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        listed = [a.path for a in client.list_artifacts(run_id, PLOTS_DIR) if not a.is_dir]
        pngs = sorted(p for p in listed if p.lower().endswith(".png"))
        if not pngs:
            return []
        with tempfile.TemporaryDirectory(prefix="workbench-plots-") as tmp:
            local = Path(client.download_artifacts(run_id, PLOTS_DIR, tmp))
            return [(Path(p).name, (local / Path(p).name).read_bytes()) for p in pngs]
    except (MlflowException, OSError) as exc:
        raise store_error(tracking_uri, exc) from None
