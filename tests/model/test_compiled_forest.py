"""Forests on the array path are summed tree by tree in the calling thread, exactly as
scikit-learn sums them (no joblib pool per call): same labels, same probabilities and values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from core.serving.inference import _estimator


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 12))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(0, 0.5, 2000) > 0).astype(int)
    return X, y, X[:, 0] * 3 + np.sin(X[:, 1]) + rng.normal(0, 0.1, 2000)


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
def test_a_forest_classifier_answers_as_scikit_learn(cls):
    X, y, _ = _data()
    labels = np.array(["on time", "late"])[y]  # string classes: labels come from classes_
    est = cls(n_estimators=30, min_samples_leaf=3, n_jobs=1, random_state=0).fit(X, labels)
    predict, classifier = _estimator(est)
    test = _data(1)[0]
    got, proba = predict(test)
    assert classifier
    assert np.array_equal(got, est.predict(test))
    assert np.array_equal(proba, est.predict_proba(test))  # the same sum, in the same order
    one, one_proba = predict(test[:1])
    assert one.tolist() == est.predict(test[:1]).tolist()
    assert np.array_equal(one_proba, est.predict_proba(test[:1]))


@pytest.mark.parametrize("cls", [RandomForestRegressor, ExtraTreesRegressor])
def test_a_forest_regressor_answers_as_scikit_learn(cls):
    X, _, target = _data()
    est = cls(n_estimators=30, n_jobs=1, random_state=0).fit(X, target)
    predict, classifier = _estimator(est)
    test = _data(1)[0]
    values, proba = predict(test)
    assert not classifier and proba is None
    assert np.array_equal(values, est.predict(test))


def test_a_multi_output_forest_keeps_scikit_learns_own_predict():
    X, y, target = _data()
    est = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, np.c_[target, y])
    predict, _ = _estimator(est)
    values, _ = predict(X[:10])
    assert values.shape == (10, 2)
    assert np.array_equal(values, est.predict(X[:10]))
