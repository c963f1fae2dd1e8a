"""Experiments shaping around honest selection: validation ranks, test and the refit's test follow.

Mirrors the confusing case from the issue: logistic regression has the best *test* score, but
linear SVM won on *validation* and its refit on train + validation was registered.
"""

from __future__ import annotations

import time

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag

from core import experiments as ex
from core.registry import tracking as T

EXPERIMENT = "flights-delay"
TRAININGS = {  # data version -> [(candidate, metrics, won, refit run id or "")]
    "v1": [
        ("random_forest", {"val_roc_auc": 0.70, "test_roc_auc": 0.71}, True, ""),
        ("knn", {"val_roc_auc": 0.60, "test_roc_auc": 0.75}, False, ""),
    ],
    "v2": [
        (
            "logistic_regression",
            {"val_roc_auc": 0.62, "test_roc_auc": 0.6699, "train_roc_auc": 0.64},
            False,
            "",
        ),
        (
            "linear_svm",
            {
                "val_roc_auc": 0.65,
                "test_roc_auc": 0.5953,
                "train_roc_auc": 0.66,
                "refit_test_roc_auc": 0.6010,
                "val_log_loss": 0.61,
                "test_log_loss": 0.64,
                "refit_test_log_loss": 0.63,
            },
            True,
            "refit-run-id",
        ),
    ],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict[str, str]:
    """Two trainings (v1 without refit, v2 with); run ids by `name@version`."""
    root = tmp_path_factory.mktemp("mlflow")
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.create_experiment(EXPERIMENT, artifact_location=str(root / "mlartifacts"))
    ids = {}
    for version, cands in TRAININGS.items():
        parent = client.create_run(exp, tags={T.TAG_ROLE: T.ROLE_TRAINING}).info.run_id
        for name, metrics, won, refit in cands:
            tags = {
                T.TAG_ROLE: T.ROLE_CANDIDATE,
                T.TAG_CANDIDATE: name,
                "mlflow.parentRunId": parent,
                T.TAG_DATA_VERSION: version,
                T.TAG_METRIC: "roc_auc",
                T.TAG_BEST: str(won).lower(),
            }
            if refit:
                tags |= {T.TAG_REFIT: T.REFIT_DATA, T.TAG_REFIT_RUN: refit}
            run = client.create_run(exp, run_name=name).info.run_id
            now = int(time.time() * 1000)
            client.log_batch(
                run,
                metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                params=[Param("candidate", name)],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
            client.set_terminated(run)
            ids[f"{name}@{version}"] = run
            time.sleep(0.01)  # distinct start times: v2 is the newest training
    return {"uri": f"sqlite:///{root / 'mlflow.db'}", **ids}


@pytest.fixture(scope="module")
def runs(store) -> pd.DataFrame:
    return ex.load_runs(store["uri"], EXPERIMENT)


def test_runs_carry_the_refit_tag_of_the_winner(runs, store):
    refit = runs.set_index("run_id")["refit"]
    assert refit[store["linear_svm@v2"]] == T.REFIT_DATA
    assert refit[store["random_forest@v1"]] == ""


def test_default_ranking_is_the_validation_score_the_winner_was_chosen_by(runs, store):
    assert ex.default_metric(runs) == "metrics.val_roc_auc"
    assert ex.default_metric(runs, "log_loss") == "metrics.val_log_loss"
    v2 = runs[runs["data_version"] == "v2"]
    assert ex.best_run(v2, ex.default_metric(v2)) == store["linear_svm@v2"]
    assert ex.best_run(v2, "test_roc_auc") == store["logistic_regression@v2"]  # not the choice
    no_val = runs.drop(columns=[c for c in runs.columns if c.startswith("metrics.val_")])
    assert ex.default_metric(no_val) == "metrics.test_roc_auc"  # runs logged before


@pytest.mark.parametrize(
    ("metric", "lower"),
    [("refit_test_rmse", True), ("refit_test_log_loss", True), ("refit_test_roc_auc", False)],
)
def test_refit_metrics_rank_like_their_base_metric(metric, lower):
    assert ex.lower_is_better(metric) is lower
    assert ex.lower_is_better(f"metrics.{metric}") is lower


def test_metric_order_puts_validation_then_test_then_the_refit_then_train():
    names = ["train_roc_auc", "test_log_loss", "refit_test_roc_auc", "fit_seconds"]
    names += ["test_roc_auc", "val_roc_auc", "val_log_loss"]

    assert ex.metric_order(names, "val_roc_auc") == [
        "val_roc_auc",
        "test_roc_auc",
        "refit_test_roc_auc",
        "train_roc_auc",
        "fit_seconds",
        "val_log_loss",
        "test_log_loss",
    ]
    assert ex.metric_order(names, "metrics.test_log_loss")[:2] == ["val_log_loss", "test_log_loss"]


def test_latest_selection_is_the_newest_winner_with_val_test_and_refit_test(runs, store):
    sel = ex.latest_selection(runs, "roc_auc")

    assert sel == {
        "run_id": store["linear_svm@v2"],
        "candidate": "linear_svm",
        "data_version": "v2",
        "metric": "roc_auc",
        "val": pytest.approx(0.65),
        "test": pytest.approx(0.5953),
        "refit": True,
        "refit_test": pytest.approx(0.6010),
    }
    assert ex.latest_selection(runs)["metric"] == "roc_auc"  # from the run's metric tag
    old = ex.latest_selection(runs[runs["data_version"] == "v1"])
    assert (old["candidate"], old["refit"], old["refit_test"]) == ("random_forest", False, None)
    assert ex.latest_selection(runs[~runs["best"]]) is None
    assert ex.latest_selection(runs.iloc[:0]) is None


def test_tables_show_the_validation_score_beside_the_test_score(runs, store):
    chosen = [store["linear_svm@v2"], store["logistic_regression@v2"]]

    table = ex.metric_table(runs, chosen, "metrics.val_roc_auc")
    best = ex.best_cells(table)

    assert list(table.index[:4]) == [
        "val_roc_auc",
        "test_roc_auc",
        "refit_test_roc_auc",
        "train_roc_auc",
    ]
    assert best.loc["val_roc_auc"].tolist() == [True, False]
    assert best.loc["test_roc_auc"].tolist() == [False, True]
    shown = ex.runs_table(runs, store["linear_svm@v2"], "metrics.val_roc_auc")
    metrics = list(shown.columns[8:12])
    assert metrics == ["val_roc_auc", "test_roc_auc", "refit_test_roc_auc", "train_roc_auc"]
