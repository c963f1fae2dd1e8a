"""Metrics per task and the over/underfitting diagnosis."""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from core.config import LOWER_IS_BETTER

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
DEFAULT_FLOOR = {
    "roc_auc": 0.55,
    "accuracy": 0.5,
    "f1": 0.1,
    "precision": 0.1,
    "recall": 0.1,
    "r2": 0.1,
}


def _clean(value: float) -> float:
    return float(value) if value is not None and math.isfinite(value) else float("nan")


def classification_metrics(y_true, y_pred, y_score=None) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (binary, or macro for multiclass), ROC-AUC, log loss.

    Args:
        y_true: true labels.
        y_pred: predicted labels.
        y_score: predicted probabilities, shape (n,) for the positive class or (n, k).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.unique(y_true)
    binary = len(labels) <= 2
    avg = "binary" if binary and set(labels.tolist()) <= {0, 1} else "macro"
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, average=avg, zero_division=0),
        "recall": skm.recall_score(y_true, y_pred, average=avg, zero_division=0),
        "f1": skm.f1_score(y_true, y_pred, average=avg, zero_division=0),
        "roc_auc": float("nan"),
        "log_loss": float("nan"),
    }
    if y_score is not None and len(labels) > 1:
        score = np.asarray(y_score, dtype=float)
        pos = score[:, -1] if score.ndim == 2 and binary else score
        out["roc_auc"] = (
            skm.roc_auc_score(y_true, pos, multi_class="ovr")
            if not (score.ndim == 2 and not binary)
            else skm.roc_auc_score(y_true, score, multi_class="ovr")
        )
        out["log_loss"] = skm.log_loss(y_true, np.clip(pos if binary else score, 1e-15, 1 - 1e-15))
    return {k: _clean(v) for k, v in out.items()}


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """RMSE, MAE, R², MAPE."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return {
        "rmse": _clean(math.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": _clean(skm.mean_absolute_error(y_true, y_pred)),
        "r2": _clean(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
        "mape": _clean(skm.mean_absolute_percentage_error(y_true, y_pred)),
    }


def compute_metrics(task: str, y_true, y_pred, y_score=None) -> dict[str, float]:
    """All metrics of a task."""
    if task == "classification":
        return classification_metrics(y_true, y_pred, y_score)
    return regression_metrics(y_true, y_pred)


def better(metric: str, a: float, b: float) -> bool:
    """Whether value `a` of `metric` is strictly better than `b` (NaN is never better)."""
    if math.isnan(a):
        return False
    if math.isnan(b):
        return True
    return a < b if metric in LOWER_IS_BETTER else a > b


def relative_gap(metric: str, train: float, test: float) -> float:
    """How much worse test is than train, relative to train (0 when test is as good or better)."""
    if math.isnan(train) or math.isnan(test):
        return float("nan")
    worse = test - train if metric in LOWER_IS_BETTER else train - test
    scale = abs(train) if abs(train) > 1e-12 else 1.0
    return max(worse, 0.0) / scale


def diagnose(metric: str, train: float, test: float, gap_limit: float, floor: float | None) -> dict:
    """Flag overfitting (train-test gap above `gap_limit`) and underfitting (test below floor).

    Returns:
        `{"overfit": bool, "underfit": bool, "gap": float, "recommendations": [str, ...]}`.
    """
    gap = relative_gap(metric, train, test)
    floor = DEFAULT_FLOOR.get(metric) if floor is None else floor
    overfit = bool(not math.isnan(gap) and gap > gap_limit)
    underfit = bool(
        floor is not None
        and not math.isnan(test)
        and (test > floor if metric in LOWER_IS_BETTER else test < floor)
    )
    recs = []
    if overfit:
        recs += [
            f"train {metric} {train:.4g} vs test {test:.4g} (gap {gap:.1%} > {gap_limit:.0%}):",
            "regularise more (lower max_depth / num_leaves, raise min_samples_leaf or C⁻¹)",
            "train on more data or fewer features; use early stopping for boosting",
        ]
    if underfit:
        recs += [
            f"test {metric} {test:.4g} is past the floor {floor:.4g}:",
            "use a more flexible model or relax regularisation",
            "add informative features (interactions, lags) and check the labels",
        ]
    return {"overfit": overfit, "underfit": underfit, "gap": gap, "recommendations": recs}
