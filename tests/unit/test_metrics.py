import math

import numpy as np
import pytest

from core.training.metrics import (
    better,
    classification_metrics,
    compute_metrics,
    diagnose,
    regression_metrics,
    relative_gap,
)


def test_classification_metrics_on_a_known_confusion():
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 1, 1, 1])
    score = np.array([0.1, 0.6, 0.8, 0.9])
    m = classification_metrics(y, pred, score)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(0.8)
    assert m["roc_auc"] == pytest.approx(1.0)
    assert 0 < m["log_loss"] < 1


def test_classification_accepts_two_column_probabilities_and_multiclass():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    assert classification_metrics(y, proba.argmax(1), proba)["roc_auc"] == pytest.approx(1.0)
    y3 = np.array([0, 1, 2, 2, 1, 0])
    p3 = np.eye(3)[y3] * 0.8 + 0.2 / 3
    m = classification_metrics(y3, y3, p3)
    assert m["accuracy"] == 1.0 and m["roc_auc"] == pytest.approx(1.0)


def test_single_class_gives_nan_auc_not_an_error():
    m = classification_metrics([1, 1, 1], [1, 1, 0], [0.9, 0.8, 0.2])
    assert math.isnan(m["roc_auc"])


def test_regression_metrics():
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["mape"] == pytest.approx((2 / 3) / 3)
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_compute_metrics_dispatches_by_task():
    assert "rmse" in compute_metrics("regression", [1, 2], [1, 2])
    assert "f1" in compute_metrics("classification", [0, 1], [0, 1])


@pytest.mark.parametrize(
    ("metric", "a", "b", "expected"),
    [
        ("roc_auc", 0.8, 0.7, True),
        ("roc_auc", 0.7, 0.8, False),
        ("rmse", 1.0, 2.0, True),
        ("rmse", 2.0, 1.0, False),
        ("r2", float("nan"), 0.1, False),
        ("mae", 1.0, float("nan"), True),
    ],
)
def test_better_honours_direction_and_nan(metric, a, b, expected):
    assert better(metric, a, b) is expected


def test_relative_gap_is_zero_when_test_beats_train():
    assert relative_gap("roc_auc", 0.8, 0.85) == 0
    assert relative_gap("roc_auc", 1.0, 0.8) == pytest.approx(0.2)
    assert relative_gap("rmse", 10.0, 13.0) == pytest.approx(0.3)


def test_diagnose_flags_overfitting_with_recommendations():
    d = diagnose("roc_auc", train=0.99, test=0.70, gap_limit=0.10, floor=0.6)
    assert d["overfit"] and not d["underfit"]
    assert any("regularise" in r for r in d["recommendations"])


def test_diagnose_flags_underfitting_below_the_floor():
    d = diagnose("roc_auc", train=0.55, test=0.54, gap_limit=0.10, floor=0.6)
    assert d["underfit"] and not d["overfit"]
    assert any("flexible" in r for r in d["recommendations"])


def test_diagnose_error_metric_floor_is_a_ceiling_and_healthy_model_has_no_flags():
    assert diagnose("rmse", train=100, test=500, gap_limit=10.0, floor=300)["underfit"]
    healthy = diagnose("rmse", train=100, test=105, gap_limit=0.10, floor=300)
    assert not healthy["overfit"] and not healthy["underfit"]
    assert healthy["recommendations"] == []
