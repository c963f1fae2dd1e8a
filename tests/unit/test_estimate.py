"""CBPE on synthetic data whose answers are known: calibrated probabilities, covariate shift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from core.monitoring.estimate import (
    Calibration,
    estimate_rows,
    expected_metrics,
    fit_calibration,
    prediction_shift,
)


def _world(n: int, shift: float, seed: int, spread: float = 1.0):
    """x ~ N(shift, spread), P(y=1 | x) = sigmoid(2x): the relation fixed, the inputs moved."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, spread, n)
    truth = 1 / (1 + np.exp(-2 * x))
    y = (rng.random(n) < truth).astype(int)
    return x, truth, y


def _model_scores(x):
    """An over-confident model: right ranking, miscalibrated probabilities."""
    return 1 / (1 + np.exp(-5 * x))


def test_perfectly_calibrated_expected_accuracy_and_auc_match_the_realized_ones():
    _, p, y = _world(200_000, 0.0, 1)
    pred = p > 0.5
    est = expected_metrics(p, p, pred)
    assert est["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=0.005)
    assert est["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=0.005)
    assert est["f1"] == pytest.approx(f1_score(y, pred), abs=0.005)


def test_calibration_on_a_holdout_corrects_an_overconfident_model():
    x, _, y = _world(20_000, 0.0, 2)
    s = _model_scores(x)
    cal = fit_calibration(pd.Series(y), pd.Series((s > 0.5).astype(int)), pd.Series(s))
    assert cal.method == "isotonic" and cal.kind == "binary" and cal.positive == "1"
    x2, _, y2 = _world(50_000, 0.0, 3)
    s2 = _model_scores(x2)
    raw = expected_metrics(s2, s2, s2 > 0.5)["accuracy"]
    calibrated = expected_metrics(cal.apply(s2), s2, s2 > 0.5)["accuracy"]
    realized = accuracy_score(y2, s2 > 0.5)
    assert abs(calibrated - realized) < 0.01 < abs(raw - realized)


def test_under_covariate_shift_the_estimate_tracks_the_realized_drop():
    x, _, y = _world(20_000, 0.0, 4)
    s = _model_scores(x)
    cal = fit_calibration(pd.Series(y), pd.Series((s > 0.5).astype(int)), pd.Series(s))
    rows = []
    for spread in (1.0, 0.7, 0.45, 0.3):  # inputs crowd the decision boundary: AUC falls
        xs, _, ys = _world(40_000, 0.2, 10 + int(spread * 10), spread)
        ss = _model_scores(xs)
        frame = pd.DataFrame({"prediction": (ss > 0.5).astype(int), "probability": ss})
        est = estimate_rows(frame, cal)
        rows.append(
            (est["roc_auc"], roc_auc_score(ys, ss), est["accuracy"], (ys == (ss > 0.5)).mean())
        )
    est_auc, real_auc, est_acc, real_acc = map(np.array, zip(*rows, strict=True))
    # within the holdout calibration's own noise (an oracle calibration is exact)
    assert np.abs(est_auc - real_auc).max() < 0.025
    assert np.abs(est_acc - real_acc).max() < 0.015
    assert real_auc[0] - real_auc[-1] > 0.15  # a real drop, and the estimate saw it
    assert est_auc[0] - est_auc[-1] == pytest.approx(real_auc[0] - real_auc[-1], abs=0.025)
    assert np.all(np.diff(est_auc) < 0) and np.all(np.diff(est_acc) < 0)


def test_small_holdouts_get_platt_and_string_labels_use_macro_averages():
    x, _, y = _world(400, 0.0, 5)
    s = _model_scores(x)
    labels = pd.Series(np.where(y == 1, "late", "on_time"))
    pred = pd.Series(np.where(s > 0.5, "late", "on_time"))
    # the larger label is the positive class, as scikit-learn's classes_[1]
    cal = fit_calibration(labels, pred, pd.Series(1 - s))
    assert cal.method == "platt" and cal.positive == "on_time" and not cal.binary_average
    assert np.all(np.diff(cal.apply(np.linspace(0, 1, 11))) > 0)


def test_multiclass_confidence_estimates_accuracy_only():
    rng = np.random.default_rng(6)
    conf = rng.uniform(0.34, 1.0, 5000)
    right = rng.random(5000) < conf
    actual = pd.Series(np.where(right, "a", "b"))
    pred = pd.Series(["a"] * 5000)
    extra = pd.Series(["c"] * 10)  # a third label
    cal = fit_calibration(
        pd.concat([actual, extra], ignore_index=True),
        pd.concat([pred, extra], ignore_index=True),
        pd.Series(np.r_[conf, np.ones(10)]),
    )
    assert cal.kind == "confidence"
    out = estimate_rows(pd.DataFrame({"prediction": pred, "probability": conf}), cal)
    assert set(out) == {"accuracy"}
    assert out["accuracy"] == pytest.approx(right.mean(), abs=0.02)


def test_prediction_shift_flags_a_moved_distribution_only():
    rng = np.random.default_rng(7)
    ref = rng.normal(10, 2, 5000)
    same = prediction_shift(ref, rng.normal(10, 2, 2000))
    moved = prediction_shift(ref, rng.normal(12, 2, 2000))
    assert not same["shifted"] and moved["shifted"]
    assert moved["psi"] > 0.2 and moved["ks"] > 0.3
    assert prediction_shift(ref, ref[:5]) is None


def test_calibration_survives_a_json_round_trip():
    from dataclasses import asdict

    x, _, y = _world(3000, 0.0, 8)
    s = _model_scores(x)
    cal = fit_calibration(pd.Series(y), pd.Series((s > 0.5).astype(int)), pd.Series(s))
    again = Calibration(**asdict(cal))
    assert np.allclose(again.apply(s), cal.apply(s))
