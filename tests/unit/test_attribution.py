"""`core.monitoring.attribution`: Clarify's nDCG against hand-computed values, and the global
importance of small workbench pipelines (real front steps, transformer and estimators)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from core.config import parse_config
from core.monitoring.attribution import (
    Importance,
    compare,
    current_order,
    importance,
    ndcg,
    permutation_importance,
)
from core.training.candidates import Candidate, build_pipeline

D2, D3, D4 = 1 / math.log2(3), 1 / math.log2(4), 1 / math.log2(5)  # discounts of ranks 2..4


def test_ndcg_is_one_for_the_same_ranking_whatever_the_scale():
    reference = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert ndcg(reference, reference) == 1.0
    assert ndcg(reference, {"a": 50.0, "b": 3.0, "c": 0.1}) == 1.0


def test_ndcg_of_a_reversed_ranking_matches_the_hand_computed_value():
    reference = {"a": 3.0, "b": 2.0, "c": 1.0}
    # live order c, b, a: DCG = 1/1 + 2/log2(3) + 3/log2(4); ideal = 3/1 + 2/log2(3) + 1/log2(4)
    expected = (1 + 2 * D2 + 3 * D3) / (3 + 2 * D2 + 1 * D3)
    assert ndcg(reference, {"a": 1.0, "b": 2.0, "c": 3.0}) == pytest.approx(expected)
    assert expected == pytest.approx(0.78999, abs=1e-5)


def test_ndcg_swapping_the_top_two_costs_more_than_swapping_the_bottom_two():
    reference = {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}
    ideal = 0.4 + 0.3 * D2 + 0.2 * D3 + 0.1 * D4
    top = ndcg(reference, {"a": 0.3, "b": 0.4, "c": 0.2, "d": 0.1})
    bottom = ndcg(reference, {"a": 0.4, "b": 0.3, "c": 0.1, "d": 0.2})
    assert top == pytest.approx((0.3 + 0.4 * D2 + 0.2 * D3 + 0.1 * D4) / ideal)  # 0.9570
    assert bottom == pytest.approx((0.4 + 0.3 * D2 + 0.1 * D3 + 0.2 * D4) / ideal)  # 0.9946
    assert top < bottom < 1


def test_ndcg_counts_a_field_the_window_lacks_as_zero_and_ties_keep_the_reference_order():
    reference = {"a": 0.6, "b": 0.3, "c": 0.1}
    assert current_order(reference, {"b": 1.0}) == ["b", "a", "c"]
    assert ndcg(reference, {"b": 1.0}) == pytest.approx(
        (0.3 + 0.6 * D2 + 0.1 * D3) / (0.6 + 0.3 * D2 + 0.1 * D3)
    )
    assert ndcg(reference, {"a": 0.0, "b": 0.0, "c": 0.0}) == 1.0  # all tied: no reordering
    assert ndcg({"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 0.0}) is None  # nothing to rank


def test_compare_flags_drift_below_the_threshold_only():
    ref = Importance({"a": 0.6, "b": 0.3, "c": 0.1}, "permutation", 500, 0.1)
    same = compare(ref, Importance({"a": 0.5, "b": 0.4, "c": 0.1}, "permutation", 400, 0.1), 0.9)
    flipped = compare(ref, Importance({"a": 0.0, "b": 0.2, "c": 0.8}, "permutation", 400, 0.1), 0.9)
    assert same.ndcg == 1.0 and not same.drifted
    assert flipped.ndcg < 0.9 and flipped.drifted
    assert "a #1 -> #3" in flipped.describe() and "< 0.90" in flipped.describe()
    data = flipped.to_json()
    assert data["drifted"] is True and data["threshold"] == 0.9
    assert data["reference_importance"] == ref.values and data["current_importance"]["c"] == 0.8
    assert data["method"] == "permutation" and "label-free" in data["method_description"]


# --------------------------------------------------------------------------- importance
def _config(task: str):
    return parse_config(
        {
            "task": task,
            "target": "y",
            "time_column": "ts",
            "preprocessing": {"max_categories": 4},
            "features": {"date_parts": [{"column": "ts", "parts": ["month", "hour"]}]},
        }
    )


def _data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """`temp` decides most, `carrier` some, `noise` nothing."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(  # noqa: N806 - sklearn naming
        {
            "ts": pd.date_range("2013-01-01", periods=n, freq="7h", tz="UTC"),
            "temp": rng.normal(50, 15, n),
            "carrier": rng.choice(["AA", "B6", "DL", "UA"], n),
            "noise": rng.normal(size=n),
        }
    )
    score = (X["temp"] - 50) / 5 + 1.0 * (X["carrier"] == "AA")
    return X, score.to_numpy()


def _fit(task: str, estimator):
    X, score = _data()  # noqa: N806 - sklearn naming
    y = (score > 0).astype(int) if task == "classification" else score
    return build_pipeline(Candidate("m", lambda s: estimator), X, _config(task), seed=0).fit(X, y)


@pytest.mark.parametrize(
    ("task", "estimator", "method"),
    [
        ("classification", LogisticRegression(max_iter=500), "linear"),
        ("classification", LGBMClassifier(n_estimators=30, verbose=-1), "treeshap"),
        ("classification", RandomForestClassifier(n_estimators=30, random_state=0), "permutation"),
        ("regression", RandomForestRegressor(n_estimators=30, random_state=0), "permutation"),
    ],
)
def test_importance_ranks_the_field_the_model_relies_on_first_by_the_familys_method(
    task, estimator, method
):
    pipe = _fit(task, estimator)
    X, _ = _data(400, seed=1)  # noqa: N806 - sklearn naming

    found = importance(pipe, X.assign(extra=1), task, rows=300)

    assert found.method == method and found.rows == 300
    assert set(found.values) == {"ts", "temp", "carrier", "noise"}  # raw fields, not `extra`
    assert sum(found.values.values()) == pytest.approx(1.0)
    assert max(found.values, key=found.values.get) == "temp"
    assert found.values["noise"] < found.values["carrier"]


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(max_iter=500), RandomForestClassifier(n_estimators=30, random_state=0)],
)
def test_a_window_where_the_top_field_is_constant_ranks_it_lower_and_drifts(estimator):
    pipe = _fit("classification", estimator)
    X, _ = _data(400, seed=1)  # noqa: N806 - sklearn naming
    reference = importance(pipe, X, "classification")

    same = compare(reference, importance(pipe, _data(400, seed=2)[0], "classification"), 0.9)
    # (not for TreeSHAP: its contributions are against the training expectation, and a field
    # stuck where the model's output steps away from its average keeps a large one)
    frozen = compare(reference, importance(pipe, X.assign(temp=50.0), "classification"), 0.9)

    assert same.ndcg > 0.97 and not same.drifted
    assert frozen.drifted and frozen.ndcg < 0.9
    assert frozen.current["temp"] < frozen.current["carrier"]


def test_permutation_importance_is_label_free_and_zero_for_a_constant_field():
    pipe = _fit("classification", RandomForestClassifier(n_estimators=30, random_state=0))
    X, _ = _data(300, seed=3)  # noqa: N806 - sklearn naming

    found = permutation_importance(pipe, X.assign(carrier="AA"), "classification")

    assert found["carrier"] == 0.0 and found["temp"] > 0.05
    assert found == permutation_importance(pipe, X.assign(carrier="AA"), "classification")
