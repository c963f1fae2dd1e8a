"""Training against a real MLflow store: runs, tags, artifacts, registry aliases, both tasks."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest
from cli_output import flat
from workspaces import set_training

from core.data.pipeline import run_pipeline
from core.data.versioning import latest_version
from core.registry import tracking as T
from core.training.train import train
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

pytestmark = pytest.mark.slow


def _client(ws: Workspace) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)


def _runs(ws: Workspace, role: str):
    client = _client(ws)
    exp = client.get_experiment_by_name(ws.config.project)
    return client.search_runs([exp.experiment_id], f"tags.`{T.TAG_ROLE}` = '{role}'")


def test_training_tracks_every_candidate_with_the_data_version_and_registers_champion(trained_ws):
    ws, version = trained_ws, latest_version(trained_ws)
    client = _client(ws)

    [parent] = _runs(ws, T.ROLE_TRAINING)
    children = _runs(ws, T.ROLE_CANDIDATE)

    assert sorted(r.data.tags[T.TAG_CANDIDATE] for r in children) == [
        "lightgbm",
        "logistic_regression",
    ]
    for run in [parent, *children]:
        assert run.data.tags[T.TAG_DATA_VERSION] == version.id
        assert run.data.tags[T.TAG_DATA_COMMIT] == version.commit
        assert run.data.tags[T.TAG_DATA_MD5] == version.md5
        assert run.data.tags[T.TAG_CONFIG_HASH] and run.data.tags[T.TAG_CODE_VERSION]
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        for split in T.SPLITS:
            assert 0.0 <= run.data.metrics[T.metric_key(split, "roc_auc")] <= 1.0
        assert run.data.tags[T.TAG_OVERFIT] in {"true", "false"}
        files = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert {"plots/confusion_matrix.png", "plots/roc_curve.png"} <= files
        assert any(a.path == "evaluation.json" for a in client.list_artifacts(run.info.run_id))
    digests = [d.dataset.digest for d in parent.inputs.dataset_inputs]
    assert digests == [version.md5[:16]]
    champion = client.get_model_version_by_alias(ws.config.model_name, T.ALIAS_CHAMPION)
    [best] = [r for r in children if r.data.tags.get(T.TAG_BEST) == "true"]
    metric = f"val_{ws.config.metric}"  # chosen on validation, whatever the test scores
    assert best.data.metrics[metric] == max(r.data.metrics[metric] for r in children)
    [refit] = _runs(ws, T.ROLE_REFIT)  # the registered model: the winner refit on train + val
    assert champion.run_id == refit.info.run_id == best.data.tags[T.TAG_REFIT_RUN]
    assert refit.data.tags[T.TAG_REFIT_OF] == best.info.run_id
    assert refit.data.tags[T.TAG_CANDIDATE] == best.data.tags[T.TAG_CANDIDATE]
    assert refit.data.metrics["refit_rows"] > float(best.data.params["fit_rows"])
    assert champion.tags[T.TAG_DATA_VERSION] == version.id


def test_second_training_registers_a_version_with_gates_and_keeps_the_champion(trained_ws):
    ws = set_training(trained_ws.root, candidates=["naive_bayes"])
    client = _client(ws)
    before = client.get_model_version_by_alias(ws.config.model_name, T.ALIAS_CHAMPION)

    result = train(ws)

    from core.registry.gates import load_gate_report

    report = load_gate_report(ws, ws.config.model_name, result.registered["version"])
    assert {g.name for g in report.gates} >= {"beat_champion", "latency"}
    assert result.registered["gates"] == report.status
    aliases = client.get_registered_model(ws.config.model_name).aliases
    if report.passed:  # only a version whose gates pass becomes the challenger
        assert result.registered["aliases"] == [T.ALIAS_CHALLENGER]
        assert str(aliases[T.ALIAS_CHALLENGER]) == result.registered["version"]
    else:
        assert result.registered["aliases"] == [] and T.ALIAS_CHALLENGER not in aliases
    assert result.registered["version"] != str(before.version)
    after = client.get_model_version_by_alias(ws.config.model_name, T.ALIAS_CHAMPION)
    assert after.version == before.version


def test_registered_model_accepts_raw_feature_records_through_pyfunc(trained_ws):
    from core.training.data import load_split

    split = load_split(trained_ws)
    mlflow.set_tracking_uri(trained_ws.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{trained_ws.config.model_name}@champion")
    records = split.X_test.head(5).to_dict(orient="records")  # what a client sends
    import pandas as pd

    preds = model.predict(pd.DataFrame.from_records(records))
    assert set(map(int, preds)) <= {0, 1} and len(preds) == 5


def test_regression_demo_trains_and_registers(tmp_path):
    root = tmp_path / "computers"
    init_workspace(root, demo="computers", initial=6)
    assert run_pipeline(Workspace.open(root)).status == "ok"
    ws = set_training(root, candidates=["ridge", "lightgbm"])

    result = train(ws)

    assert result.metric == "rmse"
    assert {c.name for c in result.candidates} == {"ridge", "lightgbm"}
    assert all(c.metrics["test"]["rmse"] > 0 for c in result.candidates)
    assert result.best.metrics["test"]["r2"] > 0.3
    files = {a.path for a in _client(ws).list_artifacts(result.best.run_id, "plots")}
    assert "plots/residuals.png" in files
    assert result.registered["aliases"] == [T.ALIAS_CHAMPION]  # the first model, audited
    from core.registry.audit import read_audit

    [record] = read_audit(ws)
    assert record["action"] == "initial_champion" and record["to_version"] == "1"


def test_cli_train_reports_and_rejects_unknown_data_version(versioned_ws):
    set_training(versioned_ws.root, candidates=["logistic_regression"])
    env = dict(os.environ, WORKBENCH_HOME=str(versioned_ws.root))
    cli = [sys.executable, "-m", "app.cli", "train"]

    bad = subprocess.run(
        [*cli, "--data-version", "deadbeef"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "data version 'deadbeef' not found" in flat(bad.stderr)
    assert "Traceback" not in bad.stderr

    ok = subprocess.run(cli, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "registered flights-delay version 1" in flat(ok.stdout)


def test_unknown_candidate_name_is_a_config_error(versioned_ws):
    from core.errors import ConfigError

    ws = set_training(versioned_ws.root, candidates=["xgboost"])
    with pytest.raises(ConfigError, match="unknown classification candidate"):
        train(ws)
