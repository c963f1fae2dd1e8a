"""Randomized search with a budget in trials and seconds and time-aware cross-validation."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import (
    KFold,
    ParameterSampler,
    StratifiedKFold,
    TimeSeriesSplit,
    cross_val_score,
)
from sklearn.pipeline import Pipeline

SCORERS = {
    "roc_auc": "roc_auc",
    "f1": "f1",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "log_loss": "neg_log_loss",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
    "mape": "neg_mean_absolute_percentage_error",
}


@dataclass
class SearchResult:
    """The best parameter setting found and what the search cost."""

    params: dict
    cv_score: float
    """Mean CV score in sklearn's greater-is-better convention."""
    trials: int
    seconds: float


def make_cv(task: str, time_ordered: bool, folds: int, seed: int):
    """TimeSeriesSplit for time-ordered data, else (stratified) shuffled K-fold."""
    if time_ordered:
        return TimeSeriesSplit(n_splits=folds)
    if task == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def _space_size(space: dict[str, list]) -> int:
    return math.prod(len(v) for v in space.values()) if space else 1


def search(
    pipeline: Pipeline,
    space: dict[str, list],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    metric: str,
    cv,
    trials: int,
    seconds: float,
    seed: int,
) -> SearchResult:
    """Evaluate up to `trials` sampled settings (stopping once `seconds` have passed).

    The first setting always runs, so a tight budget still yields a model.
    """
    started = time.perf_counter()
    n_iter = min(trials, _space_size(space))
    settings = list(ParameterSampler(space, n_iter=n_iter, random_state=seed)) if space else [{}]
    best_params, best_score, done = settings[0], -np.inf, 0
    for params in settings:
        if done and time.perf_counter() - started > seconds:
            break
        model = clone(pipeline).set_params(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on small folds
            scores = cross_val_score(
                model, X, y, scoring=SCORERS[metric], cv=cv, error_score=np.nan
            )
        done += 1
        score = float(np.nanmean(scores)) if not np.isnan(scores).all() else -np.inf
        if score > best_score:
            best_params, best_score = params, score
    return SearchResult(best_params, best_score, done, time.perf_counter() - started)
