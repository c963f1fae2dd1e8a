"""Promotion on a real MLflow SQLite registry: gates, aliases, force, rollback, audit, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import mlflow.sklearn
import pytest
import skops.io as sio
from cli_output import flat, wide_env
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from core.audit import audit_log_path
from core.data.preprocess import build_transformer
from core.errors import GateFailed, ModelNotFound, PromotionRefused
from core.registry.audit import read_audit
from core.registry.gates import evaluate_gates, load_gate_report
from core.registry.promotion import list_models, maybe_auto_promote, promote, rollback
from core.registry.tracking import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    TAG_DATA_VERSION,
    TAG_GATES_STATUS,
    TAG_OVERFIT,
    configure_mlflow,
)
from core.training.data import load_split
from core.training.register import register_best

pytestmark = pytest.mark.slow


def _client(ws) -> MlflowClient:
    return MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)


def _register(ws, estimator, *, overfit: str = "false", drop: tuple[str, ...] = ()) -> str:
    """Fit preprocessing + estimator on the training split, log it in a tagged run, register."""
    run_id = _log_run(ws, estimator, overfit=overfit, drop=drop)
    return str(mlflow.register_model(f"runs:/{run_id}/model", ws.config.model_name).version)


def _log_run(ws, estimator, *, overfit: str = "false", drop: tuple[str, ...] = ()) -> str:
    """Fit preprocessing + estimator on the training split and log it in a tagged run."""
    configure_mlflow(ws.tracking_uri)
    name = ws.config.model_name
    exp = mlflow.get_experiment_by_name(name)
    exp_id = (
        exp.experiment_id
        if exp
        else mlflow.create_experiment(name, artifact_location=ws.artifacts.as_uri())
    )
    split = load_split(ws)
    X = split.X_train.drop(columns=[ws.config.time_column, *drop])  # a plain tabular model
    numeric = X.select_dtypes("number").columns.tolist()
    categorical = [c for c in X.columns if c not in numeric]
    pipe = Pipeline(
        [
            ("prep", build_transformer(numeric, categorical, ws.config.preprocessing)),
            ("model", estimator),
        ]
    ).fit(X, split.y_train)
    tags = {TAG_DATA_VERSION: split.version.id, TAG_OVERFIT: overfit}
    with mlflow.start_run(experiment_id=exp_id, tags=tags) as run:
        mlflow.log_metric("test_roc_auc", 0.5)
        signature = infer_signature(X.head(20), pipe.predict(X.head(20)))
        mlflow.sklearn.log_model(
            pipe,
            name="model",
            signature=signature,
            pip_requirements=["scikit-learn"],
            skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(pipe)),
        )
    return run.info.run_id


def _good(ws, **kw) -> str:
    return _register(ws, LogisticRegression(max_iter=500), **kw)


def _bad(ws) -> str:
    return _register(ws, DummyClassifier(strategy="prior"), overfit="true")


def _champion(ws) -> str | None:
    return {
        a: str(v) for a, v in _client(ws).get_registered_model(ws.config.model_name).aliases.items()
    }.get(ALIAS_CHAMPION)


def test_gates_are_evaluated_on_the_holdout_and_stored_on_the_version(versioned_ws):
    ws = versioned_ws
    v1 = _good(ws)
    report = evaluate_gates(ws, ws.config.model_name, v1)
    split = load_split(ws)
    assert report.passed, report.failure_summary()
    assert [g.name for g in report.gates] == [
        "beat_champion",
        "no_overfitting",
        "schema_compatible",
        "latency",
    ]
    assert report.gates[0].reason == "no champion yet"
    assert report.holdout_rows == len(split.X_test) and report.data_version == split.version.id
    assert 0.5 < report.metrics["challenger"]["roc_auc"] <= 1.0
    mv = _client(ws).get_model_version(ws.config.model_name, v1)
    assert mv.tags[TAG_GATES_STATUS] == "pass"
    stored = load_gate_report(ws, ws.config.model_name, v1)
    assert stored.to_dict() == report.to_dict()


def test_gates_and_promotion_on_a_workspace_trained_by_workbench(trained_ws):
    ws, name = trained_ws, trained_ws.config.model_name
    rows = list_models(ws)
    assert rows[-1]["version"] == "1" and "champion" in rows[-1]["aliases"]
    assert rows[-1]["data_version"] and rows[-1]["test_metric"] is not None
    report = evaluate_gates(ws, name, "1")  # the champion itself: nothing to beat
    assert report.champion_version is None and report.gates[0].reason == "no champion yet"
    schema = next(g for g in report.gates if g.name == "schema_compatible")
    latency = next(g for g in report.gates if g.name == "latency")
    assert latency.observed > 0 and schema.passed
    v2 = _bad(ws)
    with pytest.raises(GateFailed, match="beat_champion"):
        promote(ws, v2, "dummy", actor="ana")
    assert _champion(ws) == "1"


def test_promote_moves_the_champion_alias_and_records_the_audit(versioned_ws):
    ws, name = versioned_ws, versioned_ws.config.model_name
    v1 = _good(ws)
    _client(ws).set_registered_model_alias(name, ALIAS_CHALLENGER, v1)
    with pytest.raises(PromotionRefused, match="reason is required"):
        promote(ws, v1, "  ", actor="ana")
    with pytest.raises(ModelNotFound, match="has no version 99"):
        promote(ws, "99", "why", actor="ana")

    record = promote(ws, v1, "first model", actor="ana")

    assert _champion(ws) == v1 and record.from_version is None and not record.forced
    aliases = _client(ws).get_registered_model(name).aliases
    assert ALIAS_CHALLENGER not in aliases  # cleared: it pointed to the new champion
    (logged,) = read_audit(ws)
    assert logged["actor"] == "ana" and logged["to_version"] == v1
    assert logged["reason"] == "first model" and logged["action"] == "promote"
    assert logged["gates"] and "roc_auc" in logged["metrics"]
    tags = _client(ws).get_model_version(name, v1).tags
    assert json.loads(tags[f"audit.{record.id}"])["id"] == record.id
    assert tags["promoted_by"] == "ana" and tags["promotion_reason"] == "first model"
    with pytest.raises(PromotionRefused, match="already is the champion"):
        promote(ws, v1, "again", actor="ana")


def test_failing_gates_block_promotion_until_forced_and_force_is_recorded(versioned_ws):
    ws, name = versioned_ws, versioned_ws.config.model_name
    v1, v2 = _good(ws), _bad(ws)
    promote(ws, v1, "baseline", actor="ana")

    with pytest.raises(GateFailed) as info:
        promote(ws, v2, "try the dummy", actor="bo")
    assert "beat_champion" in str(info.value) and "no_overfitting" in str(info.value)
    assert {g["name"] for g in info.value.failed} == {"beat_champion", "no_overfitting"}
    assert _champion(ws) == v1 and len(read_audit(ws)) == 1
    assert load_gate_report(ws, name, v2).champion_version == v1

    record = promote(ws, v2, "forced for a test", actor="bo", force=True)

    assert _champion(ws) == v2 and record.forced and record.from_version == v1
    assert read_audit(ws, name)[0]["forced"] is True
    assert not next(g for g in record.gates if g["name"] == "beat_champion")["passed"]
    rows = {r["version"]: r for r in list_models(ws)}
    assert rows[v2]["aliases"] == ["champion"] and rows[v2]["gates"] == "fail"
    assert rows[v1]["aliases"] == [] and rows[v1]["data_version"]


def test_schema_gate_blocks_a_challenger_that_lost_a_champion_input(versioned_ws):
    ws, name = versioned_ws, versioned_ws.config.model_name
    promote(ws, _good(ws), "baseline", actor="ana")
    v2 = _good(ws, drop=("temp",))
    report = evaluate_gates(ws, name, v2)
    schema = next(g for g in report.gates if g.name == "schema_compatible")
    assert not schema.passed and schema.observed["missing"] == ["temp"]


def test_rollback_restores_the_previous_champion(versioned_ws):
    ws = versioned_ws
    v1, v2 = _good(ws), _bad(ws)
    with pytest.raises(PromotionRefused, match="no champion"):
        rollback(ws, "nothing yet", actor="ana")
    promote(ws, v1, "baseline", actor="ana")
    with pytest.raises(PromotionRefused, match="nothing to roll back to"):
        rollback(ws, "no earlier champion", actor="ana")
    promote(ws, v2, "forced", actor="ana", force=True)

    record = rollback(ws, "dummy is useless", actor="cy")

    assert _champion(ws) == v1
    assert (record.action, record.from_version, record.to_version) == ("rollback", v2, v1)
    assert [r["action"] for r in read_audit(ws)] == ["rollback", "promote", "promote"]
    with pytest.raises(PromotionRefused, match="nothing to roll back to"):
        rollback(ws, "again", actor="cy")  # never back to v2, the version just rolled away from
    assert _champion(ws) == v1 and len(read_audit(ws)) == 3


def test_three_promotions_then_three_rollbacks_walk_the_history_back(versioned_ws):
    ws = versioned_ws
    versions = [_good(ws) for _ in range(4)]
    promote(ws, versions[0], "baseline", actor="ana")
    for v in versions[1:]:
        promote(ws, v, f"v{v}", actor="ana", force=True)  # the stack is under test, not gates
    assert _champion(ws) == versions[3]

    restored = [rollback(ws, f"back {k}", actor="cy").to_version for k in range(3)]

    assert restored == [versions[2], versions[1], versions[0]] and _champion(ws) == versions[0]
    with pytest.raises(PromotionRefused, match=f"no champion before flights-delay v{versions[0]}"):
        rollback(ws, "one more", actor="cy")
    moves = [(r["from_version"], r["to_version"]) for r in read_audit(ws)[:3]]
    assert moves == [
        (versions[1], versions[0]),
        (versions[2], versions[1]),
        (versions[3], versions[2]),
    ]


def test_going_forward_after_a_rollback_is_a_promotion_with_its_gates(versioned_ws):
    ws = versioned_ws
    v1, v2 = _good(ws), _bad(ws)
    promote(ws, v1, "baseline", actor="ana")
    promote(ws, v2, "forced", actor="ana", force=True)
    rollback(ws, "undo", actor="ana")

    with pytest.raises(GateFailed, match="beat_champion"):
        promote(ws, v2, "forward again", actor="bo")
    assert _champion(ws) == v1
    record = promote(ws, v2, "forward again, knowingly", actor="bo", force=True)

    assert (record.action, record.forced, record.from_version) == ("promote", True, v1)
    assert rollback(ws, "undo again", actor="bo").to_version == v1


def test_audit_log_is_append_only(versioned_ws):
    ws = versioned_ws
    v1, v2 = _good(ws), _bad(ws)
    promote(ws, v1, "baseline", actor="ana")
    log = audit_log_path(ws)
    first = log.read_bytes()
    promote(ws, v2, "forced", actor="ana", force=True)
    second = log.read_bytes()
    rollback(ws, "undo", actor="ana")
    third = log.read_bytes()

    assert second.startswith(first) and third.startswith(second) and len(third) > len(second)
    events = [json.loads(line) for line in third.decode().splitlines()]
    moves = [e for e in events if e["source"] == "registry"]
    assert [e["action"] for e in moves] == ["promote", "promote", "roll back"]
    assert all(e["details"]["record"]["model"] == "flights-delay" for e in moves)
    assert [r["to_version"] for r in read_audit(ws)] == [v1, v2, v1]  # newest first


def test_auto_promote_only_when_enabled_and_every_gate_passes(versioned_ws):
    ws = versioned_ws
    v1, v2 = _good(ws), _bad(ws)
    assert maybe_auto_promote(ws, v1) is None  # setting off by default
    ws.config.training.auto_promote = True
    record = maybe_auto_promote(ws, v1)
    assert record.action == "auto_promote" and _champion(ws) == v1
    assert maybe_auto_promote(ws, v2) is None and _champion(ws) == v1


def test_only_a_version_whose_gates_pass_becomes_the_challenger(versioned_ws):
    ws, name = versioned_ws, versioned_ws.config.model_name
    data_version = load_split(ws).version.id

    def register(estimator, **kw) -> dict:
        run_id = _log_run(ws, estimator, **kw)
        return register_best(ws, run_id, f"runs:/{run_id}/model", data_version)

    first = register(LogisticRegression(max_iter=500))
    assert first["aliases"] == [ALIAS_CHAMPION] and first["version"] == "1"
    failing = register(DummyClassifier(strategy="prior"), overfit="true")
    assert (failing["gates"], failing["aliases"]) == ("fail", [])
    assert ALIAS_CHALLENGER not in _client(ws).get_registered_model(name).aliases
    assert load_gate_report(ws, name, failing["version"]).failed  # its report is kept
    ws.config.gates.beat_champion.min_delta = -1.0  # an equal model may pass
    passing = register(LogisticRegression(max_iter=500))
    assert (passing["gates"], passing["aliases"]) == ("pass", [ALIAS_CHALLENGER])
    ws.config.gates.beat_champion.min_delta = 0.0

    again = register(DummyClassifier(strategy="prior"), overfit="true")

    assert again["aliases"] == [] and again["gates"] == "fail"
    aliases = {a: str(v) for a, v in _client(ws).get_registered_model(name).aliases.items()}
    assert aliases == {ALIAS_CHAMPION: "1", ALIAS_CHALLENGER: passing["version"]}
    rows = {r["version"]: r for r in list_models(ws)}
    assert (rows[failing["version"]]["gates"], rows[failing["version"]]["aliases"]) == ("fail", [])
    assert rows[again["version"]]["aliases"] == [] and len(rows) == 4


def _cli(ws, *args: str, wide: bool = False) -> subprocess.CompletedProcess:
    """`workbench models ARGS`; `wide` for a table, whose cells are cut to fit a narrow width."""
    skip = {"MLFLOW_TRACKING_URI", "WORKBENCH_TRACKING_URI"}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env["WORKBENCH_HOME"] = str(ws.root)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "models", *args],
        env=wide_env(env) if wide else env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_lists_promotes_refuses_and_rolls_back(versioned_ws):
    ws, name = versioned_ws, versioned_ws.config.model_name
    v1, v2 = _good(ws), _bad(ws)
    promote(ws, v1, "baseline", actor="ana")  # in-process: each CLI call costs imports

    res = _cli(ws, "promote", "other-model", v1, "--reason", "x")
    assert res.returncode == 1 and "unknown model 'other-model'" in flat(res.stderr)
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = _cli(ws, "promote", name, v2, "--reason", "dummy")
    assert res.returncode == 1 and "beat_champion" in res.stderr and "--force" in res.stderr
    assert "Traceback" not in res.stderr
    res = _cli(ws, "promote", name, v2, "--reason", "dummy", "--force", "--actor", "bo")
    assert res.returncode == 0, res.stderr
    assert f"v{v2} is now champion (was v{v1}); recorded by bo" in flat(res.stdout)
    assert "forced past failed gate(s): beat_champion, no_overfitting" in flat(res.stderr)
    res = _cli(ws, "list", wide=True)
    assert res.returncode == 0 and "champion" in res.stdout and "fail" in res.stdout
    res = _cli(ws, "rollback", name, "--reason", "dry", "--dry-run")
    assert res.returncode == 0 and flat(res.stdout).strip() == f"rolls back {name} v{v2} -> v{v1}"
    assert _champion(ws) == v2
    res = _cli(ws, "rollback", name, "--reason", "undo the dummy")
    assert res.returncode == 0, res.stderr
    assert f"rolls back {name} v{v2} -> v{v1}" in flat(res.stdout)
    assert f"v{v1} is champion again (was v{v2})" in flat(res.stdout)
    assert _champion(ws) == v1
    res = _cli(ws, "rollback", name, "--reason", "and again")
    assert res.returncode == 1 and "nothing to roll back to" in flat(res.stderr)
    assert "Traceback" not in res.stderr and _champion(ws) == v1
    assert [r["action"] for r in read_audit(ws)] == ["rollback", "promote", "promote"]
    assert read_audit(ws)[1]["forced"] is True and read_audit(ws)[1]["actor"] == "bo"
