"""Performance with delayed labels: metrics of the labelled predictions of a window.

Actuals arrive later (POST /feedback, or a labels file) and are joined to the logged predictions
by request id (`core.monitoring.window`). A window's metric worse than the model's baseline
(its metric on the reference rows) by more than `monitoring.performance.max_drop`, relative,
is performance drift.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.config import LOWER_IS_BETTER
from core.config.monitoring import PerformanceConfig
from core.monitoring.reference import PREDICTION, PROBABILITY, canonical


@dataclass
class PerformanceResult:
    """The watched metric of a window against the baseline."""

    metric: str
    value: float | None
    baseline: float | None
    drop: float | None
    """Relative change for the worse (0.08 = 8% worse); negative when better."""
    max_drop: float
    drifted: bool
    labelled: int
    metrics: dict[str, float]
    note: str | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        out["metrics"] = {k: _finite(v) for k, v in self.metrics.items()}
        return {k: _finite(v) if isinstance(v, float) else v for k, v in out.items()}


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


def align_labels(actual: pd.Series, predicted: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Actual and predicted labels as comparable arrays (numbers when both are numeric)."""
    a_num = pd.to_numeric(actual, errors="coerce")
    p_num = pd.to_numeric(predicted, errors="coerce")
    if a_num.notna().all() and p_num.notna().all():
        return a_num.to_numpy(), p_num.to_numpy()
    return (
        np.array([canonical(v) for v in actual], dtype=object),
        np.array([canonical(v) for v in predicted], dtype=object),
    )


def window_metrics(frame: pd.DataFrame, target: str, task: str) -> dict[str, float]:
    """All metrics of the task on the labelled rows of `frame` (empty dict when none)."""
    from core.training.metrics import compute_metrics

    rows = frame[frame[target].notna() & frame[PREDICTION].notna()]
    if rows.empty:
        return {}
    if task == "regression":
        y = pd.to_numeric(rows[target], errors="coerce").to_numpy(dtype=float)
        pred = pd.to_numeric(rows[PREDICTION], errors="coerce").to_numpy(dtype=float)
        return compute_metrics(task, y, pred)
    y, pred = align_labels(rows[target], rows[PREDICTION])
    score = None
    if PROBABILITY in rows and rows[PROBABILITY].notna().all() and len(np.unique(y)) <= 2:
        score = rows[PROBABILITY].to_numpy(dtype=float)  # the positive class's, as logged
    return compute_metrics(task, y, pred, score)


def relative_drop(metric: str, value: float, baseline: float) -> float:
    """How much worse `value` is than `baseline`, as a share of the baseline."""
    worse = value - baseline if metric in LOWER_IS_BETTER else baseline - value
    return worse / abs(baseline) if baseline else worse


def evaluate(
    frame: pd.DataFrame,
    target: str,
    task: str,
    metric: str,
    baseline: dict | None,
    cfg: PerformanceConfig,
) -> PerformanceResult | None:
    """The performance verdict of a window; None when it has no labelled predictions."""
    if target not in frame or PREDICTION not in frame:
        return None
    labelled = int((frame[target].notna() & frame[PREDICTION].notna()).sum())
    if not labelled:
        return None
    metrics = window_metrics(frame, target, task)
    value = metrics.get(metric)
    base = (baseline or {}).get(metric)
    result = PerformanceResult(metric, value, base, None, cfg.max_drop, False, labelled, metrics)
    if labelled < cfg.min_labels:
        result.note = f"{labelled} labelled predictions, fewer than min_labels ({cfg.min_labels})"
    elif value is None or not math.isfinite(value):
        result.note = f"{metric} cannot be computed from the logged predictions"
    elif base is None or not math.isfinite(base):
        result.note = "no baseline: the reference profile has no metrics"
    else:
        result.drop = relative_drop(metric, value, base)
        result.drifted = result.drop > cfg.max_drop
    return result


def over_time(frame: pd.DataFrame, target: str, task: str, metric: str, bucket: str = "day"):
    """The metric per time bucket of the labelled rows: columns `start`, `labelled`, metric."""
    rows = frame[frame[target].notna()] if target in frame else frame.iloc[0:0]
    if rows.empty or "time" not in rows:
        return pd.DataFrame(columns=["start", "labelled", metric])
    out = []
    for start, part in rows.groupby(bucket_start(rows["time"], bucket)):
        value = window_metrics(part, target, task).get(metric, float("nan"))
        out.append({"start": start, "labelled": len(part), metric: value})
    return pd.DataFrame(out)


def bucket_start(times: pd.Series, bucket: str) -> pd.Series:
    """The start of each time's hour, day or (Monday-based) week, in UTC."""
    stamp = pd.to_datetime(times, utc=True, format="ISO8601")
    if bucket == "hour":
        return stamp.dt.floor("h")
    day = stamp.dt.floor("D")
    return day - pd.to_timedelta(day.dt.dayofweek, unit="D") if bucket == "week" else day
