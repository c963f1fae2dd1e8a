"""Candidate runs as one flat frame (one MLflow query), and filtering and ranking over it.

`load_runs` returns one row per candidate run: the fixed columns in `RUN_COLUMNS`, then
`metrics.<name>` (floats) and `params.<name>` (strings, as MLflow stores them). The rest is
pure pandas over that frame, so a page can filter, sort and page 1,000 runs without asking
the store again.

Each training chooses its winner on the validation metric (`val_<metric>`); the test split is
an untouched holdout. With `training.refit` the winner is refit on train + validation and that
model is registered: the winner's run carries the refit's holdout metrics as `refit_test_*`.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd

from core.config import LOWER_IS_BETTER
from core.errors import TrackingUnavailable
from core.registry.tracking import (
    REFIT_PREFIX,
    ROLE_CANDIDATE,
    SPLITS,
    TAG_BEST,
    TAG_CANDIDATE,
    TAG_DATA_VERSION,
    TAG_DIAGNOSIS,
    TAG_METRIC,
    TAG_OVERFIT,
    TAG_REFIT,
    TAG_ROLE,
    TAG_TASK,
    TAG_UNDERFIT,
)

M, P = "metrics.", "params."
PARENT_TAG = "mlflow.parentRunId"
RUN_COLUMNS = [
    "run_id",
    "run_name",
    "start_time",
    "status",
    "candidate",
    "data_version",
    "parent_run_id",
    "task",
    "metric",
    "best",
    "refit",
    "overfit",
    "underfit",
    "diagnosis",
]
SPLIT_ORDER = ("val", "test", REFIT_PREFIX + "test", "train")
"""How one metric's splits are ordered in tables: the selection score, then the holdout(s)."""
LOWER_IS_BETTER_EXTRA = frozenset({"fit_seconds", "predict_ms_per_row", "overfit_gap"})
"""Costs and the train-test gap, logged next to the scores: lower is better too."""
NEUTRAL_METRICS = frozenset({"tuning_trials"})
"""Logged facts that are neither better nor worse when larger: never ranked."""


def store_error(uri: str, exc: Exception) -> TrackingUnavailable:
    """The one-line `TrackingUnavailable` for a failure talking to the store at `uri`."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TrackingUnavailable(f"MLflow tracking store {uri} cannot be read: {reason}")


def _sqlite_missing(uri: str) -> bool:
    """True for an embedded SQLite store whose file does not exist (asking would create it)."""
    if not uri.startswith("sqlite:///"):
        return False
    path = urllib.parse.unquote(uri.removeprefix("sqlite:///").split("?")[0])
    return path not in ("", ":memory:") and not Path(path).is_file()


def check_server(uri: str, timeout: float = 3.0) -> None:
    """Fail fast on an unreachable tracking server (MLflow's own client retries for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            pass
    except OSError as exc:
        raise TrackingUnavailable(f"MLflow tracking server {uri} is unreachable: {exc}") from None


def _row(run) -> dict:
    tags, info = run.data.tags, run.info
    row = {
        "run_id": info.run_id,
        "run_name": info.run_name or "",
        "start_time": info.start_time,
        "status": info.status,
        "candidate": tags.get(TAG_CANDIDATE) or run.data.params.get("candidate") or "",
        "data_version": tags.get(TAG_DATA_VERSION, ""),
        "parent_run_id": tags.get(PARENT_TAG, ""),
        "task": tags.get(TAG_TASK, ""),
        "metric": tags.get(TAG_METRIC, ""),
        "best": tags.get(TAG_BEST) == "true",
        "refit": tags.get(TAG_REFIT, ""),
        "overfit": tags.get(TAG_OVERFIT) == "true",
        "underfit": tags.get(TAG_UNDERFIT) == "true",
        "diagnosis": tags.get(TAG_DIAGNOSIS, ""),
    }
    row.update({M + k: v for k, v in run.data.metrics.items()})
    row.update({P + k: v for k, v in run.data.params.items()})
    return row


def runs_frame(runs: list) -> pd.DataFrame:
    """Flatten MLflow `Run` objects into the frame `load_runs` returns."""
    frame = pd.DataFrame([_row(r) for r in runs])
    if frame.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    metrics = sorted(c for c in frame.columns if c.startswith(M))
    params = sorted(c for c in frame.columns if c.startswith(P))
    frame = frame[RUN_COLUMNS + metrics + params]
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms", utc=True)
    frame[metrics] = frame[metrics].astype(float)
    return frame.reset_index(drop=True)


def load_runs(tracking_uri: str, experiment_name: str, max_results: int = 5000) -> pd.DataFrame:
    """Candidate runs of an experiment, newest first, from one `search_runs` call.

    Runs tagged `workbench.role=candidate` are returned; an experiment without that tag on
    any run (logged by hand) gets all its runs instead, from a second query. A missing
    experiment, or an embedded SQLite file that does not exist yet, gives an empty frame.

    Raises:
        TrackingUnavailable: The store cannot be reached or read.
    """
    if _sqlite_missing(tracking_uri):
        return runs_frame([])
    check_server(tracking_uri)
    import mlflow
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            return runs_frame([])
        ids = [experiment.experiment_id]
        role = f"tags.`{TAG_ROLE}` = '{ROLE_CANDIDATE}'"
        runs = client.search_runs(ids, role, max_results=max_results)
        if not runs:
            runs = client.search_runs(ids, "", max_results=max_results)
    except (MlflowException, SQLAlchemyError, OSError) as exc:
        raise store_error(tracking_uri, exc) from None
    return runs_frame(list(runs))


# --- columns and ranking -------------------------------------------------------------------


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The `metrics.*` columns of a runs frame."""
    return [c for c in df.columns if c.startswith(M)]


def param_columns(df: pd.DataFrame) -> list[str]:
    """The `params.*` columns of a runs frame."""
    return [c for c in df.columns if c.startswith(P)]


def short(column: str) -> str:
    """`metrics.test_rmse` → `test_rmse`, `params.model__alpha` → `model__alpha`."""
    return column.removeprefix(M).removeprefix(P)


def _base(name: str) -> str:
    """`test_rmse` (and `refit_test_rmse`) → `rmse`; names without a split prefix are their own."""
    name = name.removeprefix(REFIT_PREFIX)
    return next((name[len(s) + 1 :] for s in SPLITS if name.startswith(f"{s}_")), name)


def _split_rank(name: str) -> int:
    """Position of a metric's split in `SPLIT_ORDER` (after them: names without a split)."""
    return next(
        (i for i, s in enumerate(SPLIT_ORDER) if name.startswith(f"{s}_")), len(SPLIT_ORDER)
    )


def metric_order(names: list[str], metric: str | None = None) -> list[str]:
    """Metric names with `metric`'s base first, each base's splits as in `SPLIT_ORDER`.

    E.g. for `val_roc_auc`: val_roc_auc, test_roc_auc, refit_test_roc_auc, train_roc_auc,
    then the other metrics (by base, then split). Works on short or `metrics.` names.
    """
    base = _base(short(metric)) if metric else None
    return sorted(
        names, key=lambda c: (_base(short(c)) != base, _base(short(c)), _split_rank(short(c)))
    )


def lower_is_better(metric: str) -> bool:
    """Whether smaller is better for a metric, with or without split and `metrics.` prefix."""
    name = short(metric)
    return _base(name) in LOWER_IS_BETTER or name in LOWER_IS_BETTER_EXTRA


def default_metric(df: pd.DataFrame, optimised: str | None = None) -> str | None:
    """The column to rank by: `metrics.val_<optimised>` (else test, else the first metric).

    Validation is what each training chose its winner by; `test_` is the fallback for runs
    logged without validation metrics. `optimised` defaults to the runs' most common `metric` tag.
    """
    if optimised is None and not df.empty and (df["metric"] != "").any():
        optimised = df.loc[df["metric"] != "", "metric"].mode().iloc[0]
    columns = metric_columns(df)
    for split in ("val", "test"):
        if optimised and f"{M}{split}_{optimised}" in columns:
            return f"{M}{split}_{optimised}"
    return columns[0] if columns else None


def sort_runs(df: pd.DataFrame, by: str | None, reverse: bool = False) -> pd.DataFrame:
    """Best first for a metric column (lower-is-better honoured), newest first otherwise."""
    if by is None or by not in df.columns:
        by = "start_time"
    ascending = lower_is_better(by) if by.startswith(M) else by != "start_time"
    return df.sort_values(by, ascending=ascending != reverse, na_position="last", kind="stable")


def best_run(df: pd.DataFrame, metric: str) -> str | None:
    """Run id with the best value of `metric` (`test_rmse` or `metrics.test_rmse`), or None."""
    column = metric if metric.startswith(M) else M + metric
    if df.empty or column not in df.columns or df[column].isna().all():
        return None
    values = df[column]
    return str(df.loc[values.idxmin() if lower_is_better(column) else values.idxmax(), "run_id"])


def filter_runs(
    df: pd.DataFrame,
    text: str | None = None,
    candidates: list[str] | None = None,
    data_versions: list[str] | None = None,
) -> pd.DataFrame:
    """Runs matching every given filter.

    `text` is a case-insensitive substring of the run id, name, candidate, data version,
    status or diagnosis; empty filters keep everything.
    """
    keep = pd.Series(True, index=df.index)
    if candidates:
        keep &= df["candidate"].isin(candidates)
    if data_versions:
        keep &= df["data_version"].isin(data_versions)
    if text and text.strip():
        fields = ["run_id", "run_name", "candidate", "data_version", "status", "diagnosis"]
        hay = df[fields].astype(str).agg(" ".join, axis=1).str.lower()
        keep &= hay.str.contains(text.strip().lower(), regex=False)
    return df[keep]


def count_trainings(df: pd.DataFrame) -> int:
    """How many trainings (distinct parent runs) the runs come from."""
    return int(df.loc[df["parent_run_id"] != "", "parent_run_id"].nunique())


def page_of(df: pd.DataFrame, page: int, size: int = 50) -> tuple[pd.DataFrame, int]:
    """Rows of 1-based page `page` (clamped into range) and the number of pages."""
    pages = max(1, -(-len(df) // size))
    page = min(max(page, 1), pages)
    return df.iloc[(page - 1) * size : page * size], pages


def runs_table(
    df: pd.DataFrame, best_id: str | None = None, metric: str | None = None
) -> pd.DataFrame:
    """The runs as shown in a table: a ★ on `best_id`, run facts, then every metric.

    Columns: best (★ or empty), run, candidate, data_version, started, status, winner (the
    run won its training on validation), overfit, then the metrics by short name in
    `metric_order` (every split of `roc_auc` first for `val_roc_auc`: val, test, refit_test,
    train); the index is the run id.
    """
    table = pd.DataFrame(
        {
            "best": (df["run_id"] == best_id).map({True: "★", False: ""}),
            "run": df["run_name"],
            "candidate": df["candidate"],
            "data_version": df["data_version"],
            "started": df["start_time"],
            "status": df["status"],
            "winner": df["best"],
            "overfit": df["overfit"],
        }
    )
    names = metric_order(metric_columns(df), metric)
    metrics = df[names].rename(columns=short)
    return pd.concat([table, metrics], axis=1).set_axis(df["run_id"].to_numpy(), axis=0)


def _value(row: pd.Series, name: str) -> float | None:
    value = row.get(M + name)
    return None if value is None or pd.isna(value) else float(value)


def latest_selection(df: pd.DataFrame, optimised: str | None = None) -> dict | None:
    """What the newest training among `df` chose, or None when no run is tagged as a winner.

    Returns `{"run_id", "candidate", "data_version", "metric", "val", "test", "refit",
    "refit_test"}`: the winner was chosen on `val` (`val_<metric>`); `test` is its holdout score
    as fitted on train; `refit` is true when it was refit on train + validation and that model
    registered, whose holdout score is `refit_test`. Missing values are None. `optimised`
    defaults to the winner's `metric` tag.
    """
    winners = df[df["best"].astype(bool)] if "best" in df.columns else df.iloc[:0]
    if winners.empty:
        return None
    row = winners.sort_values("start_time", kind="stable").iloc[-1]
    metric = optimised or row["metric"] or None
    if metric is None:
        return None
    return {
        "run_id": str(row["run_id"]),
        "candidate": row["candidate"] or row["run_name"],
        "data_version": row["data_version"],
        "metric": metric,
        "val": _value(row, f"val_{metric}"),
        "test": _value(row, f"test_{metric}"),
        "refit": bool(row.get("refit")),
        "refit_test": _value(row, f"{REFIT_PREFIX}test_{metric}"),
    }
