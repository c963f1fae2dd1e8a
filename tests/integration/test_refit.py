"""Final fit: the winner chosen on validation is refit on train + validation and registered.

The registered model's fitted row count is read from the model itself (Gaussian naive Bayes
keeps `class_count_`), so a refit that silently fell back to the train-only model, or that
saw test rows, fails here.
"""

from __future__ import annotations

from dataclasses import replace

import mlflow
import pandas as pd
import pytest
from workspaces import set_training

import core.training.train as tr
from core.registry import tracking as T
from core.registry.gates import evaluate_gates
from core.registry.promotion import list_models
from core.training.candidates import select
from core.training.data import load_split
from core.workspace import Workspace

pytestmark = pytest.mark.slow


def _client(ws: Workspace) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)


def _registered(ws: Workspace, version: str):
    mlflow.set_tracking_uri(ws.tracking_uri)
    mlflow.set_registry_uri(ws.tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{ws.config.model_name}/{version}")


def _runs(ws: Workspace, role: str):
    client = _client(ws)
    exp = client.get_experiment_by_name(ws.config.project)
    return client.search_runs([exp.experiment_id], f"tags.`{T.TAG_ROLE}` = '{role}'")


def test_refit_is_on_by_default_and_registers_the_winner_fitted_on_train_and_validation(
    versioned_ws, monkeypatch
):
    ws = set_training(versioned_ws.root, candidates=["naive_bayes"])
    assert ws.config.training.refit is True
    seen = []

    def spy(split, max_rows, seed):
        X, y = real(split, max_rows, seed)
        seen.append((X, y))
        return X, y

    real = tr.refit_rows
    monkeypatch.setattr(tr, "refit_rows", spy)
    split = load_split(ws)
    n_train, n_val = len(split.X_train), len(split.X_val)

    result = tr.train(ws)

    # the refit saw train + validation in time order, never a test row
    [(X, y)] = seen
    assert list(X.index) == [*split.X_train.index, *split.X_val.index]
    assert list(y.index) == list(X.index)
    assert not set(X.index) & set(split.X_test.index)
    best, refit = result.best, result.refit
    assert refit is not None and result.final is refit and refit.refit
    assert (best.fit_rows, refit.fit_rows) == (n_train, n_train + n_val)
    assert refit.name == best.name and refit.params == best.params
    assert "val" not in refit.metrics  # validation is in its training rows

    # the registered version is the refit: its run, its fitted rows, its holdout metrics
    client, version = _client(ws), result.registered["version"]
    mv = client.get_model_version(ws.config.model_name, version)
    assert mv.run_id == refit.run_id != best.run_id
    model = _registered(ws, version)
    assert model.named_steps["model"].class_count_.sum() == n_train + n_val
    test_auc = refit.metrics["test"]["roc_auc"]
    proba = model.predict_proba(split.X_test)
    assert proba == pytest.approx(refit.test_score)

    refit_run = client.get_run(refit.run_id)
    assert refit_run.info.run_name == f"{best.name}-refit"
    assert refit_run.data.tags[T.TAG_ROLE] == T.ROLE_REFIT
    assert refit_run.data.tags[T.TAG_REFIT] == "train+val"
    assert refit_run.data.tags[T.TAG_REFIT_OF] == best.run_id
    assert refit_run.data.tags[T.TAG_CANDIDATE] == best.name
    assert refit_run.data.tags[T.TAG_DATA_VERSION] == split.version.id
    assert refit_run.data.metrics["refit_rows"] == n_train + n_val
    assert refit_run.data.params["fit_rows"] == str(n_train + n_val)
    assert refit_run.data.metrics["test_roc_auc"] == pytest.approx(test_auc)
    assert not any(k.startswith("val_") for k in refit_run.data.metrics)

    # the chosen candidate's run keeps its own metrics and points at the refit
    best_run = client.get_run(best.run_id)
    assert best_run.data.tags[T.TAG_BEST] == "true"
    assert best_run.data.metrics["val_roc_auc"] == pytest.approx(best.metrics["val"]["roc_auc"])
    assert best_run.data.metrics["test_roc_auc"] == pytest.approx(best.metrics["test"]["roc_auc"])
    assert best_run.data.metrics["refit_test_roc_auc"] == pytest.approx(test_auc)
    assert best_run.data.tags[T.TAG_REFIT_RUN] == refit.run_id
    assert best_run.data.params["fit_rows"] == str(n_train)
    [parent] = _runs(ws, T.ROLE_TRAINING)
    assert parent.data.tags["registered_run_id"] == refit.run_id
    assert parent.data.tags["best_run_id"] == best.run_id
    assert len(_runs(ws, T.ROLE_CANDIDATE)) == 1  # the refit is not a candidate

    # gates and the model list see the refit model's holdout metric
    report = evaluate_gates(ws, ws.config.model_name, version)
    assert report.metrics["challenger"]["roc_auc"] == pytest.approx(test_auc)
    [row] = list_models(ws)
    assert row["test_metric"] == pytest.approx(test_auc) and row["candidate"] == best.name


def test_refit_false_registers_the_winner_as_fitted_on_train(versioned_ws):
    ws = set_training(versioned_ws.root, candidates=["naive_bayes"], refit=False)
    split = load_split(ws)

    result = tr.train(ws)

    assert result.refit is None and result.final is result.best
    best, version = result.best, result.registered["version"]
    mv = _client(ws).get_model_version(ws.config.model_name, version)
    assert mv.run_id == best.run_id
    assert _registered(ws, version).named_steps["model"].class_count_.sum() == len(split.X_train)
    assert _runs(ws, T.ROLE_REFIT) == []
    [parent] = _runs(ws, T.ROLE_TRAINING)
    assert parent.data.tags[T.TAG_REFIT] == "off"
    assert parent.data.tags["registered_run_id"] == best.run_id
    assert "refit_test_roc_auc" not in _client(ws).get_run(best.run_id).data.metrics
    report = evaluate_gates(ws, ws.config.model_name, version)
    assert report.metrics["challenger"]["roc_auc"] == pytest.approx(best.metrics["test"]["roc_auc"])


def test_refit_rows_keep_time_order_and_the_row_cap_and_never_take_test_rows(versioned_ws):
    split = load_split(versioned_ws)
    assert split.time_ordered
    both = pd.concat([split.X_train, split.X_val]).index
    test = set(split.X_test.index)

    X, y = tr.refit_rows(split, 500, seed=0)
    assert list(X.index) == list(both[-500:])  # the newest rows: all validation rows kept
    assert set(split.X_val.index) <= set(X.index) and list(y.index) == list(X.index)

    shuffled = replace(split, time_ordered=False)
    X2, _ = tr.refit_rows(shuffled, 500, seed=0)
    assert len(X2) == 500 and set(X2.index) <= set(both) and not set(X2.index) & test
    assert list(X2.index) == list(tr.refit_rows(shuffled, 500, seed=0)[0].index)  # seeded

    X3, _ = tr.refit_rows(split, 10**6, seed=0)
    assert list(X3.index) == list(both) and not set(X3.index) & test


def test_refit_of_a_slow_learner_keeps_its_row_cap_and_leaves_the_winner_untouched(versioned_ws):
    ws = set_training(versioned_ws.root, candidates=["linear_svm"], slow_max_rows=150)
    split = load_split(ws)
    [cand] = select(ws.config.task, ws.config.training.candidates)
    assert cand.slow

    best = tr.fit_candidate(ws, cand, split)
    refit = tr.refit_candidate(ws, cand, best, split)

    assert best.fit_rows == refit.fit_rows == 150
    assert refit.model is not best.model
    # the winner's own model is still the one fitted on train (its test scores unchanged)
    assert best.model.predict_proba(split.X_test) == pytest.approx(best.test_score)
    assert set(refit.metrics) == {"train", "test"}
