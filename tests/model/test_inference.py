"""The array path (`core.inference`) equals the sklearn pipeline for every candidate of both
tasks, on the demo holdout, through records and through columnar rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from core.inference import compile_model, probe_records, same_predictions
from core.training.candidates import build_pipeline, catalogue
from core.training.data import load_split
from core.workspace import Workspace

pytestmark = pytest.mark.slow
FAST = {  # smaller versions of the slow learners: the test is about replaying, not accuracy
    "n_estimators": 10,
    "max_iter": 20,
}


@pytest.fixture(scope="module")
def split(versioned_template):
    return load_split(Workspace.open(versioned_template))


def _fields(X: pd.DataFrame) -> list[tuple[str, str]]:
    kinds = {"i": "long", "f": "double", "b": "boolean"}
    return [(c, kinds.get(X[c].dtype.kind, "string")) for c in X.columns]


def _records(X: pd.DataFrame) -> list[dict]:
    return [
        {
            k: (None if isinstance(v, float) and np.isnan(v) or v is pd.NA else v)
            for k, v in r.items()
        }
        for r in X.astype(object).to_dict(orient="records")
    ]


def _fit(name: str, task: str, X: pd.DataFrame, y: pd.Series, ws: Workspace) -> Pipeline:
    pipe = build_pipeline(catalogue(task)[name], X, ws.config.preprocessing, seed=0)
    est = pipe.steps[-1][1]
    est.set_params(**{k: v for k, v in FAST.items() if k in est.get_params()})
    return pipe.fit(X.head(3000), y.head(3000))


def _check(pipe: Pipeline, X: pd.DataFrame) -> None:
    fields = _fields(X)
    compiled = compile_model(pipe, fields)
    assert compiled is not None, "every catalogue candidate compiles to the array path"
    records = _records(X)
    preds, proba = compiled.predict_records(records)
    assert same_predictions(pipe.predict(X), preds, compiled.classifier)
    if proba is not None:
        assert np.allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-12)
    columns = list(reversed(X.columns))
    rows = [[r[c] for c in columns] for r in records]
    preds_rows, _ = compiled.predict_rows(columns, rows)
    assert same_predictions(preds, preds_rows, compiled.classifier)


@pytest.mark.parametrize("name", sorted(catalogue("classification")))
def test_every_classifier_replays_exactly(name, split, versioned_template):
    ws = Workspace.open(versioned_template)
    pipe = _fit(name, "classification", split.X_train, split.y_train, ws)
    _check(pipe, split.X_test)


@pytest.mark.parametrize("name", sorted(catalogue("regression")))
def test_every_regressor_replays_exactly(name, split, versioned_template):
    ws = Workspace.open(versioned_template)
    X, y = split.X_train.drop(columns="temp"), split.X_train["temp"].fillna(50.0)
    pipe = _fit(name, "regression", X, y, ws)
    _check(pipe, split.X_test.drop(columns="temp"))


def test_unknown_and_missing_values_follow_the_encoder(split, versioned_template):
    ws = Workspace.open(versioned_template)
    pipe = _fit("lightgbm", "classification", split.X_train, split.y_train, ws)
    fields = _fields(split.X_train)
    compiled = compile_model(pipe, fields)
    probes = probe_records(compiled, n=200, seed=7)
    assert any(r["carrier"] is None for r in probes)  # missing categories are probed
    assert any(str(r["carrier"]).startswith("\x00") for r in probes)  # and unseen ones
    frame = pd.DataFrame.from_records(probes, columns=[c for c, _ in fields])
    assert np.array_equal(compiled.predict_records(probes)[0], pipe.predict(frame))


def test_an_unsupported_step_falls_back_to_pandas(split):
    X = split.X_train.select_dtypes("number")
    pipe = Pipeline(
        [
            ("preprocess", ColumnTransformer([("num", QuantileTransformer(), list(X.columns))])),
            ("model", LogisticRegression(max_iter=200)),
        ]
    ).fit(X.fillna(0).head(2000), split.y_train.head(2000))
    assert compile_model(pipe, _fields(X)) is None
