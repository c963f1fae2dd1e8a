"""Experiment queries and comparison shaping, against a real MLflow SQLite store."""

from __future__ import annotations

import io
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag
from PIL import Image

from core import experiments as ex
from core.errors import TrackingUnavailable, WorkbenchError

EXPERIMENT = "flights-delay"


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buf, format="PNG")
    return buf.getvalue()


def log_training(client, exp_id, data_version, candidates, tmp_path=None) -> dict[str, str]:
    """One parent run and a child per candidate: (name, metrics, params, best) tuples."""
    parent = client.create_run(exp_id, tags={"workbench.role": "training"}).info.run_id
    ids = {}
    for name, metrics, params, best in candidates:
        tags = {
            "workbench.role": "candidate",
            "workbench.candidate": name,
            "mlflow.parentRunId": parent,
            "data_version": data_version,
            "task": "classification",
            "metric": "roc_auc",
            "diagnosis.overfit": "true" if name == "knn" else "false",
            "diagnosis.underfit": "false",
            "diagnosis.summary": f"{name} looks fine",
            "workbench.best": "true" if best else "false",
        }
        run = client.create_run(exp_id, run_name=f"{name}-{data_version}").info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in {"candidate": name, **params}.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        client.set_terminated(run)
        ids[f"{name}@{data_version}"] = run
    return ids


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """Two trainings on v1 and v2; the best roc_auc and the best log_loss are different runs."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    exp_id = client.create_experiment(EXPERIMENT, artifact_location=str(root / "mlartifacts"))
    ids = log_training(
        client,
        exp_id,
        "v1",
        [
            (
                "random_forest",
                {"test_roc_auc": 0.91, "test_log_loss": 0.40, "train_roc_auc": 0.99},
                {"model__n_estimators": 100, "model__max_depth": 5},
                True,
            ),
            (
                "knn",
                {"test_roc_auc": 0.80, "test_log_loss": 0.30, "fit_seconds": 0.1},
                {"model__n_neighbors": 15},
                False,
            ),
        ],
    )
    ids |= log_training(
        client,
        exp_id,
        "v2",
        [
            (
                "random_forest",
                {"test_roc_auc": 0.88, "test_log_loss": 0.45},
                {"model__n_estimators": 300, "model__max_depth": 5},
                True,
            ),
        ],
    )
    plots = root / "plots"
    plots.mkdir()
    (plots / "roc_curve.png").write_bytes(png())
    (plots / "confusion_matrix.png").write_bytes(png())
    client.log_artifacts(ids["random_forest@v1"], str(plots), "plots")
    return uri, ids


@pytest.fixture(scope="module")
def runs(store) -> pd.DataFrame:
    return ex.load_runs(store[0], EXPERIMENT)


def test_load_runs_returns_one_flat_row_per_candidate_not_the_parents(runs, store):
    _, ids = store

    assert sorted(runs["run_id"]) == sorted(ids.values())
    assert list(runs.columns[: len(ex.RUN_COLUMNS)]) == ex.RUN_COLUMNS
    rf = runs.set_index("run_id").loc[ids["random_forest@v1"]]
    assert (rf["candidate"], rf["data_version"], rf["status"]) == (
        "random_forest",
        "v1",
        "FINISHED",
    )
    assert rf["run_name"] == "random_forest-v1"
    assert rf["parent_run_id"] and rf["best"] and not rf["overfit"]
    assert rf["metrics.test_roc_auc"] == pytest.approx(0.91)
    assert rf["params.model__n_estimators"] == "100"
    assert str(runs["start_time"].dt.tz) == "UTC"
    assert ex.count_trainings(runs) == 2
    assert runs["start_time"].is_monotonic_decreasing


def test_load_runs_falls_back_to_every_run_when_nothing_is_tagged_candidate(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    exp_id = client.create_experiment("by-hand", artifact_location=str(tmp_path / "art"))
    run = client.create_run(exp_id).info.run_id
    client.log_metric(run, "rmse", 3.0)

    frame = ex.load_runs(uri, "by-hand")

    assert list(frame["run_id"]) == [run]
    assert frame.loc[0, "candidate"] == ""
    assert frame.loc[0, "metrics.rmse"] == 3.0


def test_missing_experiment_gives_an_empty_frame(store):
    frame = ex.load_runs(store[0], "no-such-experiment")

    assert frame.empty
    assert list(frame.columns) == ex.RUN_COLUMNS


def test_a_missing_sqlite_file_is_an_empty_store_and_is_not_created(tmp_path):
    db = tmp_path / "mlflow.db"

    assert ex.load_runs(f"sqlite:///{db}", EXPERIMENT).empty
    assert not db.exists()


def test_unreachable_tracking_server_raises_one_line_workbench_error():
    with pytest.raises(TrackingUnavailable) as info:
        ex.load_runs("http://127.0.0.1:9", EXPERIMENT)

    assert isinstance(info.value, WorkbenchError)
    assert "127.0.0.1:9" in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_sqlite_store_raises_tracking_unavailable(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)

    with pytest.raises(TrackingUnavailable, match="cannot be read"):
        ex.load_runs(f"sqlite:///{db}", EXPERIMENT)


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        ("test_rmse", True),
        ("metrics.val_log_loss", True),
        ("mae", True),
        ("fit_seconds", True),
        ("overfit_gap", True),
        ("test_roc_auc", False),
        ("train_r2", False),
        ("cv_best_score", False),
    ],
)
def test_lower_is_better_knows_error_and_cost_metrics(metric, lower):
    assert ex.lower_is_better(metric) is lower


def test_best_run_takes_the_highest_score_and_the_lowest_error(runs, store):
    _, ids = store

    assert ex.best_run(runs, "test_roc_auc") == ids["random_forest@v1"]
    assert ex.best_run(runs, "metrics.test_log_loss") == ids["knn@v1"]
    assert ex.best_run(runs, "no_such_metric") is None
    assert ex.best_run(runs.iloc[:0], "test_roc_auc") is None


def test_sort_puts_the_best_first_and_missing_values_last(runs, store):
    _, ids = store

    by_auc = ex.sort_runs(runs, "metrics.test_roc_auc")
    by_loss = ex.sort_runs(runs, "metrics.test_log_loss")
    by_fit = ex.sort_runs(runs, "metrics.fit_seconds")

    assert list(by_auc["run_id"]) == [
        ids["random_forest@v1"],
        ids["random_forest@v2"],
        ids["knn@v1"],
    ]
    assert by_loss["run_id"].iloc[0] == ids["knn@v1"]
    assert (
        ex.sort_runs(runs, "metrics.test_roc_auc", reverse=True)["run_id"].iloc[0] == ids["knn@v1"]
    )
    assert by_fit["run_id"].iloc[0] == ids["knn@v1"]
    assert by_fit["metrics.fit_seconds"].iloc[1:].isna().all()
    assert ex.sort_runs(runs, None)["start_time"].is_monotonic_decreasing


def test_default_metric_is_the_test_score_of_the_optimised_metric(runs):
    assert ex.default_metric(runs) == "metrics.test_roc_auc"
    assert ex.default_metric(runs, "log_loss") == "metrics.test_log_loss"


def test_filter_by_text_candidate_and_data_version(runs, store):
    _, ids = store

    assert set(ex.filter_runs(runs, candidates=["random_forest"])["run_id"]) == {
        ids["random_forest@v1"],
        ids["random_forest@v2"],
    }
    assert list(ex.filter_runs(runs, data_versions=["v2"])["run_id"]) == [ids["random_forest@v2"]]
    assert list(ex.filter_runs(runs, text="KNN LOOKS")["run_id"]) == [ids["knn@v1"]]
    assert list(ex.filter_runs(runs, text=ids["knn@v1"][:10])["run_id"]) == [ids["knn@v1"]]
    both = ex.filter_runs(runs, text="forest", data_versions=["v1"])
    assert list(both["run_id"]) == [ids["random_forest@v1"]]
    assert len(ex.filter_runs(runs, text="  ", candidates=[], data_versions=None)) == 3


def test_page_of_clamps_the_page_into_range():
    frame = pd.DataFrame({"x": range(120)})

    first, pages = ex.page_of(frame, 1, 50)
    last, _ = ex.page_of(frame, 99, 50)

    assert pages == 3
    assert list(first["x"]) == list(range(50))
    assert list(last["x"]) == list(range(100, 120))
    assert ex.page_of(frame.iloc[:0], 1, 50)[1] == 1


def test_metric_table_puts_runs_side_by_side_and_marks_the_best_per_metric(runs, store):
    _, ids = store
    chosen = [ids["random_forest@v1"], ids["knn@v1"]]

    table = ex.metric_table(runs, chosen)
    best = ex.best_cells(table)

    labels = list(ex.run_labels(runs, chosen).values())
    assert (
        list(table.columns)
        == labels
        == [f"random_forest · {chosen[0][:8]}", f"knn · {chosen[1][:8]}"]
    )
    assert table.loc["test_roc_auc", labels[0]] == pytest.approx(0.91)
    assert best.loc["test_roc_auc"].tolist() == [True, False]
    assert best.loc["test_log_loss"].tolist() == [False, True]  # lower is better
    assert not best.loc["train_roc_auc"].any()  # one value only: nothing to beat


def test_best_cells_never_ranks_neutral_facts():
    table = pd.DataFrame(
        {"a": [10.0, 0.2], "b": [20.0, 0.1]}, index=["tuning_trials", "overfit_gap"]
    )

    best = ex.best_cells(table)

    assert not best.loc["tuning_trials"].any()
    assert best.loc["overfit_gap"].tolist() == [False, True]


def test_param_diff_flags_the_parameters_that_differ(runs, store):
    _, ids = store
    chosen = [ids["random_forest@v1"], ids["random_forest@v2"], ids["knn@v1"]]

    diff = ex.param_diff(runs, chosen)

    assert diff.loc["model__n_estimators"].iloc[:3].tolist() == ["100", "300", ex.MISSING]
    assert diff.loc["model__n_estimators", "differs"]
    assert diff.loc["model__n_neighbors", "differs"]
    same = ex.param_diff(runs, chosen[:2])
    assert not same.loc["model__max_depth", "differs"]
    assert same.loc["model__n_estimators", "differs"]
    assert "model__n_neighbors" not in same.index  # neither run has it
    assert same["differs"].iloc[0]  # differing parameters first


def test_parallel_frame_encodes_categories_and_keeps_numbers(runs, store):
    _, ids = store
    chosen = [ids["random_forest@v1"], ids["random_forest@v2"], ids["knn@v1"]]

    par = ex.parallel_frame(runs, chosen, "test_roc_auc")

    assert par.frame["test_roc_auc"].tolist() == pytest.approx([0.91, 0.88, 0.80])
    assert par.ticks["candidate"] == ["knn", "random_forest"]
    assert par.frame["candidate"].tolist() == [1.0, 1.0, 0.0]
    assert par.ticks["model__n_estimators"] == ["100", "300", ex.MISSING]
    assert par.frame.select_dtypes("number").shape == par.frame.shape


def test_scatter_frame_has_the_runs_that_logged_both_and_marks_the_selected(runs, store):
    _, ids = store

    frame = ex.scatter_frame(runs, "model__n_estimators", "test_roc_auc", [ids["random_forest@v2"]])

    assert sorted(frame["model__n_estimators"]) == [100, 300]
    assert frame.set_index("run_id")["selected"].to_dict() == {
        ids["random_forest@v1"]: False,
        ids["random_forest@v2"]: True,
    }
    assert ex.scatter_frame(runs, "nope", "test_roc_auc").empty
    among = ex.scatter_frame(
        runs, "model__n_estimators", "test_roc_auc", [ids["random_forest@v2"]], among=[]
    )
    assert list(among["run_id"]) == [ids["random_forest@v2"]]  # the selected are always kept


def test_runs_table_stars_the_best_run_and_shows_metrics_by_short_name(runs, store):
    _, ids = store

    table = ex.runs_table(runs, ids["knn@v1"])

    assert table.loc[ids["knn@v1"], "best"] == "★"
    assert (table["best"] == "★").sum() == 1
    assert {"run", "candidate", "data_version", "started", "test_roc_auc"} <= set(table.columns)
    by_loss = ex.runs_table(runs, None, "metrics.test_log_loss")
    assert list(by_loss.columns[8:10]) == ["test_log_loss", "fit_seconds"]


def test_run_plots_returns_the_logged_pngs_and_nothing_for_runs_without(store):
    uri, ids = store

    plots = ex.run_plots(uri, ids["random_forest@v1"])

    assert [name for name, _ in plots] == ["confusion_matrix.png", "roc_curve.png"]
    assert all(data.startswith(b"\x89PNG") for _, data in plots)
    assert ex.run_plots(uri, ids["knn@v1"]) == []


def test_no_streamlit_or_store_access_in_the_shaping_functions():
    source = Path(ex.__file__).parent
    assert all("streamlit" not in p.read_text() for p in source.glob("*.py"))
