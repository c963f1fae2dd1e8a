"""Model behaviour on the demo (Made-With-ML style): minimum functionality, invariance,
directional expectations, for the registered champion of each task."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from workspaces import set_training

from core.bootstrap import init_workspace
from core.data.pipeline import run_pipeline
from core.training.data import load_split
from core.training.metrics import compute_metrics
from core.training.train import train
from core.workspace import Workspace

pytestmark = pytest.mark.slow


def _champion(ws: Workspace):
    mlflow.set_tracking_uri(ws.tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{ws.config.model_name}@champion")


@pytest.fixture(scope="module")
def flights(trained_template):
    ws = Workspace.open(trained_template)
    return _champion(ws), load_split(ws)


@pytest.fixture(scope="module")
def computers(tmp_path_factory):
    root = tmp_path_factory.mktemp("computers") / "ws"
    init_workspace(root, demo="computers", initial=8)
    assert run_pipeline(Workspace.open(root)).status == "ok"
    ws = set_training(root, candidates=["ridge", "lightgbm"])
    train(ws)
    return _champion(ws), load_split(ws)


def test_flights_champion_beats_chance_on_the_holdout(flights):
    model, split = flights
    proba = model.predict_proba(split.X_test)
    metrics = compute_metrics("classification", split.y_test, proba.argmax(1), proba)
    assert metrics["roc_auc"] > 0.6
    assert np.allclose(proba.sum(axis=1), 1.0) and ((proba >= 0) & (proba <= 1)).all()


def test_prediction_of_a_record_does_not_depend_on_its_batch(flights):
    model, split = flights
    X = split.X_test.head(200)
    batch = model.predict_proba(X)[:, 1]
    shuffled = model.predict_proba(X.iloc[::-1])[:, 1][::-1]
    singles = np.array([model.predict_proba(X.iloc[[i]])[0, 1] for i in range(0, 200, 40)])
    assert np.allclose(batch, shuffled)
    assert np.allclose(batch[::40], singles)


def test_unseen_categories_and_missing_weather_still_predict(flights):
    model, split = flights
    X = split.X_test.head(50).copy()
    X["carrier"] = "ZZ"  # an airline the model never saw
    X["dest"] = "XYZ"
    X.loc[X.index[:10], ["temp", "humid", "pressure"]] = np.nan
    proba = model.predict_proba(X)[:, 1]
    assert np.isfinite(proba).all()


def test_later_departures_are_predicted_more_often_late(flights):
    model, split = flights
    X = split.X_test
    early = X.assign(sched_dep_time=600, time_hour_hour=6.0)
    late = X.assign(sched_dep_time=2000, time_hour_hour=20.0)
    assert model.predict_proba(late)[:, 1].mean() > model.predict_proba(early)[:, 1].mean()


def test_computers_champion_explains_price_better_than_the_mean(computers):
    model, split = computers
    metrics = compute_metrics("regression", split.y_test, model.predict(split.X_test))
    baseline = compute_metrics(
        "regression", split.y_test, np.full(len(split.y_test), split.y_train.mean())
    )
    assert metrics["rmse"] < 0.8 * baseline["rmse"]


def test_more_ram_and_speed_raise_the_predicted_price(computers):
    model, split = computers
    X = split.X_test
    small = X.assign(ram=4, speed=33, ram_x_speed=4 * 33)
    big = X.assign(ram=16, speed=66, ram_x_speed=16 * 66)
    assert model.predict(big).mean() > model.predict(small).mean() + 100
