"""A bad automatic promotion rolls itself back: a real MLflow store (v1 champion, v2 auto-promoted),
a real prediction log with delayed labels, and the monitoring check that judges them."""

from __future__ import annotations

import pytest
from monitoring_helpers import edit_config, forget_artifact_repos, holdout, log_predictions
from monitoring_helpers import send_feedback as send_labels
from workspaces import copy_workspace, set_training

from core.alerts import read_alerts
from core.monitoring.check import run_check
from core.registry import store
from core.registry.audit import read_audit
from core.registry.promotion import maybe_auto_promote
from core.workspace import Workspace

pytestmark = pytest.mark.slow
ROWS = 300


@pytest.fixture
def promoted(two_versions_template, tmp_path) -> Workspace:
    """v1 served (labelled) as champion, then v2 promoted automatically."""
    forget_artifact_repos()
    root = copy_workspace(two_versions_template, tmp_path / "ws")
    ws = set_training(root, auto_promote=True, candidates=["naive_bayes"])
    cfg = ws.config.monitoring.model_dump()
    cfg["performance"]["auto_rollback"] = {"enabled": True, "margin": 0.05, "min_labels": 200}
    ws = edit_config(ws, monitoring=cfg)
    X, y = holdout(ws)
    ids = log_predictions(ws, X.iloc[:ROWS], version="1", hours_ago=3)
    send_labels(ws, ids, y.iloc[:ROWS])
    record = maybe_auto_promote(ws, "2", actor="scheduler")
    assert record is not None and record.action == "auto_promote"
    yield ws
    forget_artifact_repos()


def _champion(ws) -> str:
    return store.champion_version(store.registry_client(ws), ws.config.model_name)


def _serve_v2(ws, *, degrade: bool, model=None) -> None:
    """v2's first predictions as champion (logged after the promotion), labelled: the same
    kind of traffic as v1's (its rows again), so only the model differs."""
    X, y = holdout(ws)
    X, y = X.iloc[:ROWS], y.iloc[:ROWS]
    ids = log_predictions(ws, X, version="2", degrade=degrade, model=model, hours_ago=-0.01)
    send_labels(ws, ids, y)


def test_a_clearly_worse_auto_promoted_champion_is_rolled_back_with_evidence(promoted):
    ws = promoted
    _serve_v2(ws, degrade=True)

    result = run_check(ws, "all")

    assert _champion(ws) == "1"
    assert result.rollback["verdict"] == "rolled_back"
    assert result.to_json()["rollback"]["audit_id"] == read_audit(ws)[0]["id"]
    newest = read_audit(ws, ws.config.model_name)[0]
    assert newest["action"] == "rollback" and newest["actor"] == "monitoring"
    assert (newest["from_version"], newest["to_version"]) == ("2", "1")
    evidence = newest["metrics"]
    assert evidence["metric"] == "roc_auc"
    assert evidence["new"]["version"] == "2" and evidence["old"]["version"] == "1"
    assert evidence["new"]["labelled"] == 200 and evidence["old"]["labelled"] == 200
    assert evidence["new"]["value"] < evidence["old"]["value"] - 0.1
    assert evidence["new"]["start"] and evidence["old"]["end"]
    assert evidence["drop"] > 0.05
    assert "v2 realized roc_auc" in newest["reason"] and "200 labelled" in newest["reason"]
    [alert] = [a for a in read_alerts(ws.alerts_path) if a["kind"] == "registry.auto_rollback"]
    assert "rolled back v2 -> v1" in alert["message"]

    again = run_check(ws, "all")  # decided once: the rollback is now the newest record

    assert again.rollback is None and _champion(ws) == "1"
    assert [r["action"] for r in read_audit(ws, ws.config.model_name)].count("rollback") == 1


def test_an_auto_promoted_champion_as_good_as_the_last_one_stays(promoted):
    ws = promoted
    store.registry_client(ws)
    v1 = store.load_model(ws.config.model_name, "1")
    _serve_v2(ws, degrade=False, model=v1)  # v2 realizes what v1 did on the same kind of rows

    result = run_check(ws, "all")

    assert result.rollback["verdict"] == "kept"
    assert abs(result.rollback["evidence"]["drop"]) <= 0.05
    assert _champion(ws) == "2"
    assert read_audit(ws, ws.config.model_name)[0]["action"] == "auto_promote"
    assert not [a for a in read_alerts(ws.alerts_path) if a["kind"] == "registry.auto_rollback"]


def test_no_verdict_before_the_new_champion_has_enough_labels(promoted):
    ws = promoted
    X, _ = holdout(ws)
    log_predictions(ws, X.iloc[:ROWS], version="2", degrade=True, hours_ago=-0.01)

    result = run_check(ws, "all")

    assert result.rollback["verdict"] == "waiting"
    assert result.rollback["evidence"]["new"]["labelled"] == 0
    assert _champion(ws) == "2"
