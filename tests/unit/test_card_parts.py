"""Model card parts on small inputs: bootstrap intervals (vectorised resamples agree with
`compute_metrics`), worst slices, rendering."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.registry import card as C
from core.training.metrics import compute_metrics


def _classified(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.5 * y + rng.uniform(0, 0.6, n) - 0.05, 0, 1)
    score = np.round(score, 2)  # ties, as trees make them
    return y, (score > 0.5).astype(int), np.column_stack([1 - score, score])


def test_vectorised_resamples_equal_compute_metrics_on_each_resample():
    y, pred, proba = _classified()
    idx = np.random.default_rng(5).integers(0, len(y), size=(20, len(y)))
    text = np.array(["late", "on time"])
    for macro, (yy, pp) in ((False, (y, pred)), (True, (text[y], text[pred]))):
        fast = C._classification_stats(y.astype(bool), pred.astype(bool), proba[:, 1], idx, macro)
        for row, rows in enumerate(idx):
            exact = compute_metrics("classification", yy[rows], pp[rows], proba[rows])
            for metric, values in fast.items():
                assert math.isclose(values[row], exact[metric], rel_tol=1e-9, abs_tol=1e-12), (
                    macro,
                    metric,
                )
    reg_y = np.random.default_rng(2).normal(10, 3, len(y))
    reg_pred = reg_y + np.random.default_rng(3).normal(0, 1, len(y))
    fast = C._regression_stats(reg_y, reg_pred, idx)
    for row, rows in enumerate(idx):
        exact = compute_metrics("regression", reg_y[rows], reg_pred[rows])
        for metric, values in fast.items():
            assert math.isclose(values[row], exact[metric], rel_tol=1e-9), metric


@pytest.mark.parametrize("labels", [(0, 1), ("late", "on time")])
def test_intervals_hold_the_point_estimate_and_are_seeded(labels):
    y, pred, proba = _classified()
    y, pred = np.array(labels)[y], np.array(labels)[pred]
    resamples = 1000
    out = C.bootstrap_intervals("classification", y, pred, proba, resamples=resamples, seed=7)
    assert out == C.bootstrap_intervals(
        "classification", y, pred, proba, resamples=resamples, seed=7
    )
    exact = compute_metrics("classification", y, pred, proba)
    for metric, m in out.items():
        assert m["value"] == exact[metric]
        assert m["low"] <= m["value"] <= m["high"] and m["low"] < m["high"], metric
    narrow = C.bootstrap_intervals(
        "classification", y, pred, proba, resamples=resamples, confidence=0.6, seed=7
    )
    assert narrow["roc_auc"]["high"] - narrow["roc_auc"]["low"] < (
        out["roc_auc"]["high"] - out["roc_auc"]["low"]
    )


def test_regression_intervals():
    rng = np.random.default_rng(1)
    y = rng.normal(10, 3, 400)
    out = C.bootstrap_intervals("regression", y, y + rng.normal(0, 1, 400), resamples=500)
    assert set(out) == {"rmse", "mae", "r2", "mape"}
    assert all(m["low"] <= m["value"] <= m["high"] for m in out.values())
    assert 0.85 < out["rmse"]["low"] < out["rmse"]["high"] < 1.15


def test_worst_slices_respect_the_minimum_rows_and_lower_is_better():
    X = pd.DataFrame({"carrier": ["AA"] * 50 + ["BB"] * 40 + ["CC"] * 5, "n": range(95)})
    y = np.r_[np.zeros(50), np.zeros(40), np.zeros(5)]
    pred = np.r_[np.zeros(50), np.full(40, 2.0), np.full(5, 9.0)]  # CC is worst but tiny
    out = C.worst_slices("regression", "rmse", X, y, pred, None, ["carrier"], 10, 3)
    assert [r["value"] for r in out["fields"]["carrier"]] == ["BB", "AA"]
    assert out["fields"]["carrier"][0]["metric"] == pytest.approx(2.0)
    assert C.slice_fields(X, None, set()) == ["carrier"]
    same = C.worst_slices(
        "regression", "rmse", X.assign(carrier="AA"), y, pred, None, ["carrier"], 10, 3
    )
    assert same["fields"] == {} and same["skipped"] == {"carrier": "one value on the whole holdout"}
    with pytest.raises(Exception, match=r"card.slice_fields: nope"):
        C.slice_fields(X, ["nope"], set())


def test_more_classes_resample_through_compute_metrics():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.uniform(size=300) < 0.7, y, rng.integers(0, 3, 300))
    out = C.bootstrap_intervals("classification", y, pred, resamples=100, seed=1)
    assert out["accuracy"]["low"] <= out["accuracy"]["value"] <= out["accuracy"]["high"]
    assert math.isnan(out["roc_auc"]["value"]) and math.isnan(out["roc_auc"]["low"])  # no scores
