"""The array path (`core.serving.inference`) equals the sklearn pipeline for every candidate of both
tasks (the flights classification demo and the computers regression demo), on the raw records of
a held-back demo day, through records, columnar rows and single records; the demo champions
serve through it; old `[ColumnTransformer, estimator]` models still compile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import QuantileTransformer
from workspaces import set_training

from core.data.pipeline import run_pipeline
from core.data.preprocess import build_transformer, model_front, split_columns
from core.data.readers import read_table
from core.serving.inference import compile_model, probe_records, same_predictions
from core.training.candidates import build_pipeline, catalogue
from core.training.data import Split, load_split
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

pytestmark = pytest.mark.slow
FAST = {  # smaller versions of the slow learners: the test is about replaying, not accuracy
    "n_estimators": 10,
    "max_iter": 20,
}


@dataclass
class Demo:
    ws: Workspace
    split: Split
    fields: list[tuple[str, str]]  # the raw signature, as the model store reads it
    records: list[dict]  # a held-back day as an API client sends it


def _signature_fields(split: Split) -> list[tuple[str, str]]:
    from core.serving.inference import signature_fields
    from core.training.tracker import raw_signature

    sig = raw_signature(split.X_train, split.y_train)
    return signature_fields(sig)


def _json_like(frame: pd.DataFrame) -> list[dict]:
    """Records as JSON carries them: timestamps as ISO-8601 strings, every gap None."""
    out = []
    for row in frame.astype(object).to_dict(orient="records"):
        record = {}
        for k, v in row.items():
            if isinstance(v, pd.Timestamp):
                v = v.isoformat()
            elif v is pd.NA or isinstance(v, float) and np.isnan(v):
                v = None
            record[k] = v
        out.append(record)
    return out


def _holdback(ws: Workspace) -> list[dict]:
    """The first held-back demo day (not in any data version yet), minus the target."""
    path = sorted((ws.root / ".demo" / "holdback").iterdir())[0]
    return _json_like(read_table(path).drop(columns=ws.config.target))


def _demo(root: Path) -> Demo:
    ws = Workspace.open(root)
    split = load_split(ws)
    return Demo(ws, split, _signature_fields(split), _holdback(ws))


@pytest.fixture(scope="module")
def flights(versioned_template) -> Demo:
    return _demo(versioned_template)


@pytest.fixture(scope="module")
def computers(tmp_path_factory) -> Demo:
    root = tmp_path_factory.mktemp("computers") / "ws"
    init_workspace(root, demo="computers", initial=8)
    assert run_pipeline(Workspace.open(root)).status == "ok"
    return _demo(root)


def _fit(name: str, task: str, demo: Demo) -> Pipeline:
    X, y = demo.split.X_train, demo.split.y_train
    pipe = build_pipeline(catalogue(task)[name], X, demo.ws.config, seed=0)
    est = pipe.steps[-1][1]
    est.set_params(**{k: v for k, v in FAST.items() if k in est.get_params()})
    return pipe.fit(X.head(3000), y.head(3000))


def _check(pipe: Pipeline, demo: Demo) -> None:
    compiled = compile_model(pipe, demo.fields)
    assert compiled is not None, "every catalogue candidate compiles to the array path"
    assert compiled.front is not None  # the record cleaning and features are replayed too
    records = demo.records
    assert isinstance(records[0][demo.ws.config.time_column], str)  # raw ISO timestamps
    frame = pd.DataFrame.from_records(records, columns=[c for c, _ in demo.fields])
    preds, proba = compiled.predict_records(records)
    assert same_predictions(pipe.predict(frame), preds, compiled.classifier)
    if compiled.classifier:
        assert np.allclose(proba, pipe.predict_proba(frame), rtol=0, atol=1e-12)
    columns = list(reversed(frame.columns))
    rows = [[r[c] for c in columns] for r in records]
    preds_rows, _ = compiled.predict_rows(columns, rows)
    assert same_predictions(preds, preds_rows, compiled.classifier)
    data = {c: [r[c] for r in records] for c in columns}  # what the API's validation builds
    features = compiled.transform_records(records)
    assert np.array_equal(compiled.transform_columns(data, len(records)), features, equal_nan=True)
    assert same_predictions(
        preds, compiled.predict_columns(data, len(records))[0], compiled.classifier
    )
    alone = np.concatenate([compiled.predict_records([r])[0] for r in records[:25]])
    assert same_predictions(preds[:25], alone, compiled.classifier)


@pytest.mark.parametrize("name", sorted(catalogue("classification")))
def test_every_classifier_replays_exactly(name, flights):
    _check(_fit(name, "classification", flights), flights)


@pytest.mark.parametrize("name", sorted(catalogue("regression")))
def test_every_regressor_replays_exactly(name, computers):
    _check(_fit(name, "regression", computers), computers)


def test_unknown_and_missing_values_follow_the_encoder(flights):
    pipe = _fit("lightgbm", "classification", flights)
    compiled = compile_model(pipe, flights.fields)
    probes = probe_records(compiled, n=200, seed=7)
    assert any(r["carrier"] is None for r in probes)  # missing categories are probed
    assert any(str(r["carrier"]).startswith("\x00") for r in probes)  # and unseen ones
    high = pipe.named_steps["clean"].fences_["wind_speed"][1]
    assert any(r["wind_speed"] is not None and r["wind_speed"] > high for r in probes)
    assert any(r["time_hour"] and r["time_hour"][19:] not in {"", "Z"} for r in probes)
    frame = pd.DataFrame.from_records(probes, columns=[c for c, _ in flights.fields])
    assert np.array_equal(compiled.predict_records(probes)[0], pipe.predict(frame))


def _served(ws: Workspace):
    from api.model_store import ModelStore

    store = ModelStore(ws.config.model_name, ws.tracking_uri)
    store.check()
    return store.champion


def _same_as_pandas(model, records: list[dict]) -> None:
    frame = pd.DataFrame.from_records(records, columns=model.columns)
    preds, proba = model.predict_records(records)
    expected, expected_proba = model.predict(frame)  # the pandas path of the same model
    assert same_predictions(np.asarray(expected), np.asarray(preds), model.classes is not None)
    if proba is not None:
        assert np.allclose(proba, expected_proba, rtol=0, atol=1e-12)


def test_the_flights_champion_is_served_through_the_array_path(trained_template):
    ws = Workspace.open(trained_template)
    model = _served(ws)
    assert model.path == "array"
    _same_as_pandas(model, _holdback(ws))


def test_the_computers_champion_is_served_through_the_array_path(computers):
    from core.training.train import train

    ws = set_training(computers.ws.root, candidates=["ridge"])
    train(ws)
    model = _served(ws)
    assert model.path == "array"
    _same_as_pandas(model, computers.records)


def test_an_old_two_step_model_on_engineered_records_still_compiles(flights):
    from lightgbm import LGBMClassifier

    split, cfg = flights.split, flights.ws.config
    front = model_front(cfg).fit(split.X_train)
    X = front.transform(split.X_train)
    numeric, categorical = split_columns(X)
    X = X[numeric + categorical]
    pipe = Pipeline(
        [
            ("preprocess", build_transformer(numeric, categorical, cfg.preprocessing)),
            ("model", LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1)),
        ]
    ).fit(X.head(3000), split.y_train.head(3000))
    kinds = {"i": "long", "f": "double", "b": "boolean"}
    fields = [(c, kinds.get(X[c].dtype.kind, "string")) for c in X.columns]
    compiled = compile_model(pipe, fields)
    assert compiled is not None and compiled.front is None
    test = front.transform(split.X_test)[numeric + categorical]
    preds, proba = compiled.predict_records(_json_like(test))
    assert np.array_equal(preds, pipe.predict(test))
    assert np.allclose(proba, pipe.predict_proba(test), rtol=0, atol=1e-12)
    records = _json_like(test)
    data = {c: [r[c] for r in records] for c, _ in fields}  # the columns the API passes
    by_columns, proba_columns = compiled.predict_columns(data, len(records))
    assert np.array_equal(by_columns, preds) and np.array_equal(proba_columns, proba)


def test_an_unsupported_step_falls_back_to_pandas(flights):
    X = flights.split.X_train.select_dtypes("number")
    y = flights.split.y_train
    pipe = Pipeline(
        [
            ("preprocess", ColumnTransformer([("num", QuantileTransformer(), list(X.columns))])),
            ("model", LogisticRegression(max_iter=200)),
        ]
    ).fit(X.fillna(0).head(2000), y.head(2000))
    kinds = {"i": "long", "f": "double"}
    assert compile_model(pipe, [(c, kinds[X[c].dtype.kind]) for c in X.columns]) is None
    # the same inside a whole raw-record model
    candidate = catalogue("classification")["logistic_regression"]
    raw = build_pipeline(candidate, flights.split.X_train, flights.ws.config, seed=0)
    transformer = raw.named_steps["preprocess"]
    name, _, columns = transformer.transformers[0]
    transformer.transformers[0] = (
        name,
        make_pipeline(SimpleImputer(), QuantileTransformer()),
        columns,
    )
    raw.fit(flights.split.X_train.head(2000), y.head(2000))
    assert compile_model(raw, flights.fields) is None
