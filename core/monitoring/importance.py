"""How much a model relies on each watched column: permutation importance on its held-out rows.

Computed once, when a version's reference profile is built (`core.monitoring.profiles`), and
kept in the profile (`ReferenceProfile.importance`), so every check can weight each column's
drift by it (`DriftResult.weighted_share`): drift of a column the model hardly uses (today's
weather, for a model that leans on the carrier and the hour) counts for little.

Permutation importance is used rather than the estimators' own `feature_importances_` / `coef_`:
it works the same for every candidate, and it is measured on the raw input fields clients send
(the model takes raw records), so no engineered or one-hot name has to be mapped back. A
timestamp's importance is shared equally by the date parts monitoring watches in its place.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MAX_ROWS = 2000
"""Rows scored per permutation (a sample of the held-out rows): seconds, not minutes."""


def _score(model, X: pd.DataFrame, y: pd.Series, task: str, metric: str) -> float:
    """The model's metric on `X` (higher is better: lower-is-better metrics are negated)."""
    from core.config import LOWER_IS_BETTER
    from core.monitoring.profiles import predict_frame
    from core.training.metrics import compute_metrics

    predictions, proba = predict_frame(model, X, task)
    value = compute_metrics(task, y.to_numpy(), predictions["prediction"].to_numpy(), proba).get(
        metric, float("nan")
    )
    if value is None or not math.isfinite(value):
        value = compute_metrics(task, y.to_numpy(), predictions["prediction"].to_numpy()).get(
            "accuracy" if task == "classification" else "rmse", float("nan")
        )
        metric = "accuracy" if task == "classification" else "rmse"
    return -value if metric in LOWER_IS_BETTER else value


def permutation_importance(
    model, X: pd.DataFrame, y: pd.Series, task: str, metric: str, seed: int = 0
) -> dict[str, float]:
    """How much the metric drops when each raw input column is shuffled (never negative).

    Args:
        model: The fitted model (takes the raw records `X`).
        X: Held-out rows as the model takes them.
        y: Their true labels.
        task: `classification` or `regression`.
        metric: The metric measured (the training metric).
        seed: Seed of the row sample and the shuffles.

    Returns:
        Column → importance, summing to 1 (all zeros when no column matters).
    """
    rng = np.random.default_rng(seed)
    if len(X) > MAX_ROWS:
        keep = np.sort(rng.choice(len(X), MAX_ROWS, replace=False))
        X, y = X.iloc[keep], y.iloc[keep]
    X, y = X.reset_index(drop=True), y.reset_index(drop=True)
    base = _score(model, X, y, task, metric)
    drops = {}
    for column in X.columns:
        shuffled = X.copy()
        shuffled[column] = X[column].to_numpy()[rng.permutation(len(X))]
        drop = base - _score(model, shuffled, y, task, metric)
        drops[column] = max(float(drop), 0.0) if math.isfinite(drop) else 0.0
    return normalise(drops)


def normalise(values: dict[str, float]) -> dict[str, float]:
    """The values as shares of their sum (zeros when the sum is zero)."""
    total = sum(values.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in values.items()}


def column_weights(raw: dict[str, float], columns: list[str], derive: dict | None) -> dict:
    """The importance of each watched column, from the raw fields' importance.

    A watched column that is a raw field keeps its importance; a timestamp's importance is
    shared equally by its watched date parts (named as the `features` config's `.output`); an
    engineered column (`monitoring.drift.engineered`) gets the mean of its sources'. Shares of
    the watched columns, summing to 1.
    """
    from core.config import FeaturesConfig

    cfg = FeaturesConfig.model_validate(derive or {})
    weight: dict[str, float] = {}
    for spec in cfg.date_parts:
        watched = [spec.output(p) for p in spec.parts if spec.output(p) in columns]
        for part in watched:
            weight[part] = raw.get(spec.column, 0.0) / len(watched)
    engineered = [(s.output, s.columns) for s in cfg.interactions]
    engineered += [(s.output, [s.column]) for s in cfg.bins]
    for name, sources in engineered:
        weight[name] = sum(raw.get(c, 0.0) for c in sources) / len(sources)
    return normalise({c: raw.get(c, weight.get(c, 0.0)) for c in columns})
