"""Model cards on a real MLflow store with real trained demo models: written at registration,
refreshed on promotion and rollback, read by the CLI; a card that cannot be written never
fails a registration."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from sklearn.metrics import roc_auc_score
from workspaces import copy_workspace, set_training

from core.errors import ModelNotFound
from core.registry import card as C
from core.registry import store
from core.registry.gates import load_gate_report
from core.registry.promotion import promote, rollback
from core.training.data import load_split
from core.workspace import Workspace

pytestmark = pytest.mark.slow

SECTIONS = (
    "## Intended use",
    "## Model",
    "## Data",
    "## Training window",
    "## Candidates tried",
    "## Holdout metrics",
    "## Gates",
    "## Global importance",
    "## Worst slices",
    "## Promotion history",
)


def _card(ws: Workspace, version: str = "1") -> dict:
    return json.loads(C.read_card(ws, version, "json"))


def _cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    skip = {"MLFLOW_TRACKING_URI", "WORKBENCH_TRACKING_URI"}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env["WORKBENCH_HOME"] = str(ws.root)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "models", "card", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_registered_version_has_its_card_with_every_section(trained_ws):
    ws = trained_ws
    md, page = C.read_card(ws, "1", "md"), C.read_card(ws, "1", "html")
    for heading in SECTIONS:
        assert heading in md
        assert f"<h2>{heading.removeprefix('## ')}</h2>" in page
    assert ws.config.card.intended_use and ws.config.card.intended_use in md  # the demo states it
    card = _card(ws)
    assert C.NOT_SET in C.render_markdown({**card, "intended_use": None})  # config without it
    assert C.card_status(ws, "1") == {
        "status": "ok",
        "updated_at": card["updated_at"],
        "error": None,
    }
    split = load_split(ws, card["data"]["version"])
    assert card["data"]["rows"] == split.version.rows
    assert card["data"]["holdout_rows"] == len(split.X_test) == card["holdout"]["rows"]
    assert card["data"]["fitted_on"] == "train+val"
    # the training window: the time column over train + validation (the refit's rows)
    fitted = split.X_train["time_hour"].tolist() + split.X_val["time_hour"].tolist()
    window = card["training_window"]
    assert window["column"] == "time_hour"
    assert (window["start"], window["end"]) == (min(fitted).isoformat(), max(fitted).isoformat())
    assert window["end"] <= split.X_test["time_hour"].min().isoformat()
    # both candidates of the training and the refit that was registered
    runs = {c["run"]: c for c in card["candidates"]}
    assert set(runs) == {"logistic_regression", "lightgbm", f"{card['candidate']}-refit"}
    assert [r["run"] for r in card["candidates"] if r["registered"]] == [
        f"{card['candidate']}-refit"
    ]
    assert [r["candidate"] for r in card["candidates"] if r["chosen"]] == [card["candidate"]]
    assert card["gates"]["gates"] and card["importance"]["fields"]
    assert card["importance"]["fields"][0]["importance"] > 0
    assert [h["action"] for h in card["history"]] == ["initial_champion"]
    assert card["aliases"] == ["champion"]


def test_holdout_intervals_contain_the_point_estimates_the_gates_saw(trained_ws):
    card = _card(trained_ws)
    metrics = card["holdout"]["metrics"]
    assert card["holdout"]["resamples"] == 1000 and card["holdout"]["confidence"] == 0.95
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
    gates = load_gate_report(trained_ws, trained_ws.config.model_name, "1").metrics["challenger"]
    for name, m in metrics.items():
        assert m["low"] <= m["value"] <= m["high"], (name, m)
        assert m["high"] - m["low"] > 0, name  # a few hundred rows: never a point
        assert math.isclose(m["value"], gates[name], rel_tol=1e-9), name


def test_the_worst_slice_is_the_worst_by_a_direct_computation(trained_ws):
    ws = trained_ws
    card = _card(ws)
    split = load_split(ws, card["data"]["version"])
    model = store.load_model(ws.config.model_name, "1")
    score = model.predict_proba(split.X_test)[:, 1]
    y = split.y_test.to_numpy()
    min_rows = ws.config.card.min_slice_rows
    slices = card["slices"]
    assert slices["metric"] == "roc_auc" and "carrier" in slices["fields"]
    for field in ("carrier", "origin"):
        direct = {}
        for value, index in split.X_test.groupby(field).indices.items():
            if len(index) >= min_rows and len(set(y[index])) == 2:
                direct[value] = roc_auc_score(y[index], score[index])
        worst = min(direct, key=direct.get)
        listed = slices["fields"][field]
        assert listed[0]["value"] == worst
        assert math.isclose(listed[0]["metric"], direct[worst], rel_tol=1e-9)
        assert listed[0]["rows"] == len(split.X_test.groupby(field).indices[worst])
        assert [r["metric"] for r in listed] == sorted(direct.values())[: len(listed)]


def test_promotion_and_rollback_refresh_both_versions_cards(two_versions_template, tmp_path):
    ws = Workspace.open(copy_workspace(two_versions_template, tmp_path / "ws"))
    before = _card(ws, "2")
    assert before["aliases"] == ["challenger"] and before["history"] == []
    assert "Never champion." in C.read_card(ws, "2")

    promote(ws, "2", "naive Bayes for the card test", "ana")
    v2, v1 = _card(ws, "2"), _card(ws, "1")
    assert v2["aliases"] == ["champion"] and v1["aliases"] == []
    assert [(h["action"], h["actor"], h["reason"]) for h in v2["history"]] == [
        ("promote", "ana", "naive Bayes for the card test")
    ]
    assert [h["action"] for h in v1["history"]] == ["promote", "initial_champion"]
    assert v2["generated_at"] == before["generated_at"]  # refreshed, not scored again
    assert v2["holdout"] == before["holdout"] and v2["updated_at"] >= before["updated_at"]
    assert "naive Bayes for the card test" in C.read_card(ws, "2", "md")
    assert "naive Bayes for the card test" in C.read_card(ws, "2", "html")

    rollback(ws, "back to v1", "ana")
    assert [h["action"] for h in _card(ws, "1")["history"]][0] == "rollback"
    assert _card(ws, "1")["aliases"] == ["champion"]
    assert "back to v1" in C.read_card(ws, "2")


def test_a_card_that_cannot_be_written_never_fails_the_registration(trained_ws):
    import yaml

    ws = trained_ws
    path = ws.root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["card"] = {"slice_fields": ["no_such_field"]}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    from core.training.train import train

    result = train(set_training(ws.root, candidates=["naive_bayes"]), force=True)
    ws = Workspace.open(ws.root)
    version = result.registered["version"]
    assert version == "2"
    status = C.card_status(ws, version)
    assert status["status"] == "failed" and "card.slice_fields: no_such_field" in status["error"]
    with pytest.raises(C.CardNotFound, match=r"--refresh") as caught:
        C.read_card(ws, version)
    assert "card.slice_fields" in str(caught.value)
    res = _cli(ws, ws.config.model_name, version)
    assert res.returncode == 1 and "has no model card yet" in res.stderr
    assert "Traceback" not in res.stderr

    cfg["card"] = {"slice_fields": ["origin"], "intended_use": "Warn gate agents of delays."}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = _cli(ws, ws.config.model_name, version, "--refresh")
    assert res.returncode == 0, res.stderr
    assert "Warn gate agents of delays." in res.stdout and "| origin |" in res.stdout
    assert C.card_status(Workspace.open(ws.root), version)["status"] == "ok"


def test_cli_prints_the_champions_card_and_errors_cleanly(trained_ws, tmp_path):
    ws, name = trained_ws, trained_ws.config.model_name
    res = _cli(ws, name, "--html", str(tmp_path / "card.html"))
    assert res.returncode == 0, res.stderr
    assert res.stdout == C.read_card(ws, "1", "md")
    assert res.stdout.startswith(f"# Model card: {name} v1\n")
    assert (tmp_path / "card.html").read_text() == C.read_card(ws, "1", "html")

    res = _cli(ws, name, "9")
    assert res.returncode == 1 and f"model '{name}' has no version 9" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    res = _cli(ws, "other-model")
    assert res.returncode == 1 and "unknown model 'other-model'" in res.stderr
    with pytest.raises(ModelNotFound):
        C.read_card(ws, "9")
