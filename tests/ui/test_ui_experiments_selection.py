"""Experiments page: the winner is explained as chosen on validation, then refit and registered.

The issue's case: logistic regression has the best test score, linear SVM won on validation
and its refit on train + validation was registered; a newcomer must see why.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ui_helpers import FIRST_RUN_TIMEOUT, PAGES, app, texts

from core.registry import tracking as T
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

CANDIDATES = [  # name, metrics, won its training
    ("logistic_regression", {"val_roc_auc": 0.62, "test_roc_auc": 0.6699}, False),
    (
        "linear_svm",
        {"val_roc_auc": 0.65, "test_roc_auc": 0.5953, "refit_test_roc_auc": 0.6010},
        True,
    ),
]


@pytest.fixture(scope="module")
def selection_ws(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    root = tmp_path_factory.mktemp("selection") / "ws"
    init_workspace(root, demo="flights", initial=1)
    ws = Workspace.open(root)
    client = mlflow.MlflowClient(ws.tracking_uri)
    exp = client.create_experiment(ws.config.project, artifact_location=str(root / "mlartifacts"))
    parent = client.create_run(exp, tags={T.TAG_ROLE: T.ROLE_TRAINING}).info.run_id
    ids = {}
    for name, metrics, won in CANDIDATES:
        tags = {
            T.TAG_ROLE: T.ROLE_CANDIDATE,
            T.TAG_CANDIDATE: name,
            "mlflow.parentRunId": parent,
            T.TAG_DATA_VERSION: "v7",
            T.TAG_METRIC: "roc_auc",
            T.TAG_BEST: str(won).lower(),
        }
        if won:
            tags[T.TAG_REFIT] = T.REFIT_DATA
        run = client.create_run(exp, run_name=name).info.run_id
        client.log_batch(
            run,
            metrics=[Metric(k, v, int(time.time() * 1000), 0) for k, v in metrics.items()],
            params=[Param("candidate", name)],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        client.set_terminated(run)
        ids[name] = run
    return root, ids


@pytest.fixture
def selection_env(selection_ws, monkeypatch) -> dict[str, str]:
    root, ids = selection_ws
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    return ids


def test_the_page_says_the_winner_was_chosen_on_validation_and_refit(selection_env):
    at = app(PAGES / "experiments.py").run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    svm = selection_env["linear_svm"]
    notes = texts(at.markdown)
    assert (
        "**Latest training** (data version `v7`): chosen on validation `roc_auc`: "
        f"**linear_svm** `{svm[:8]}` (val 0.6500, test 0.5953), refit on train+validation "
        "and registered (refit test 0.6010)"
    ) in notes
    assert any("never used to choose" in c for c in texts(at.caption))
    # ranked by the validation score: the registered winner is starred, not the best test score
    assert any(t.startswith("★ Best by `val_roc_auc`") and "linear_svm" in t for t in notes)
    table = at.dataframe[0].value
    assert list(table.index) == [svm, selection_env["logistic_regression"]]
    assert table.loc[svm, "best"] == "★" and table.loc[svm, "winner"]
    metrics = [c for c in table.columns if c.endswith("roc_auc")]
    assert metrics == ["val_roc_auc", "test_roc_auc", "refit_test_roc_auc"]


def test_the_comparison_lists_the_validation_score_first(selection_env):
    at = app(PAGES / "experiments.py")
    at.query_params["runs"] = ",".join(selection_env.values())
    at.run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    metrics = at.dataframe[1].value
    assert list(metrics.index) == ["val_roc_auc", "test_roc_auc", "refit_test_roc_auc"]
    assert any("`val_*` chose each training's winner" in c for c in texts(at.caption))
