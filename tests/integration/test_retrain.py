"""No duplicate versions, and "Retrain now": on a real scheduler process, or in the background.

Real MLflow stores in temp workspaces; the scheduler is `python -m app.cli scheduler` and the
background training is the detached `workbench train --reason` that `workbench retrain` starts.
"""

from __future__ import annotations

import pytest
from cli_output import flat, wide_console
from scheduling import leader_pid, scheduler_process, set_schedules, wait_for
from typer.testing import CliRunner
from workspaces import set_training

from app.cli import app
from app.cli.processes import running, stop
from core.jobs import JobsDB
from core.monitoring.trigger import read_decisions
from core.registry import store
from core.workspace import Workspace

pytestmark = pytest.mark.slow


def cli(*args: str):
    with wide_console():  # a path is one word, never cut by a narrow console
        result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return flat(result.output)


def versions(ws: Workspace) -> list[str]:
    client = store.registry_client(ws)
    found = client.search_model_versions(f"name = '{ws.config.model_name}'")
    return sorted((str(v.version) for v in found), key=int)


def outcomes(ws: Workspace) -> list[dict]:
    return [d for d in read_decisions(ws) if d.get("outcome")]


def test_training_twice_on_the_same_data_says_nothing_new_and_force_trains(versioned_ws):
    ws = set_training(versioned_ws.root, candidates=["logistic_regression"])
    root = str(ws.root)
    assert "registered flights-delay version 1" in cli("train", "-w", root)

    again = cli("train", "-w", root)

    assert versions(ws) == ["1"]  # nothing registered
    latest = store.registry_client(ws).get_model_version(ws.config.model_name, "1")
    assert (
        f"nothing new to train on: flights-delay v1 was trained on data "
        f"{latest.tags['data_version']} with the same training config and code "
        "(use --force to train anyway)"
    ) in again

    forced = cli("train", "-w", root, "--force")
    assert "registered flights-delay version 2" in forced and versions(ws) == ["1", "2"]


def test_retrain_now_runs_on_the_live_scheduler_and_records_reason_and_outcome(
    trained_ws, tmp_path
):
    set_training(trained_ws.root, candidates=["naive_bayes"])  # a new config: something new
    ws = set_schedules(trained_ws.root)
    db, root = JobsDB.for_workspace(ws), str(ws.root)
    with scheduler_process(ws.root, tmp_path / "scheduler.log") as proc:
        wait_for(lambda: leader_pid(db) == proc.pid, 60, "the scheduler to lead")
        said = cli("retrain", "-w", root, "--reason", "labels look off")
        first = wait_for(lambda: _finished(db, 1), 300, "the retrain run")
        cli("retrain", "-w", root, "--reason", "once more")
        second = wait_for(lambda: _finished(db, 2), 60, "the second retrain run")

    assert "training queued on the running scheduler (command 1)" in said
    assert (first["job"], first["trigger"], first["status"]) == (
        "training_pipeline",
        "retrain_request",
        "ok",
    )
    assert "labels look off" in first["summary"]["reason"]
    assert first["summary"]["version"] == "2" and versions(ws) == ["1", "2"]
    # nothing new the second time: a skipped run naming the version, not a failure
    assert second["status"] == "skipped" and second["error"] is None
    assert "nothing new to train on: flights-delay v2" in second["summary"]["reason"]
    asked = [d for d in read_decisions(ws) if d.get("via") == "scheduler"]
    assert [d["reason"] for d in asked] == ["labels look off", "once more"]
    assert [(d["outcome"], d.get("version")) for d in outcomes(ws)] == [
        ("trained", "2"),
        ("nothing_new", "2"),
    ]


def _finished(db: JobsDB, count: int) -> dict | None:
    runs = [r for r in db.runs(job="training_pipeline") if r["status"] != "running"]
    return runs[0] if len(runs) >= count else None


def test_retrain_now_without_a_scheduler_trains_in_a_background_process(trained_ws):
    ws = set_training(trained_ws.root, candidates=["naive_bayes"])
    db = JobsDB.for_workspace(ws)
    try:
        said = cli("retrain", "-w", str(ws.root), "--reason", "new labels")
        assert "no scheduler runs: training started in a background process" in said
        assert str(ws.state / "retrain.log") in said
        wait_for(lambda: versions(ws) == ["1", "2"], 300, "the background training")
        run = wait_for(
            lambda: (r := db.runs(job="training_pipeline")) and r[0]["status"] != "running" and r,
            60,
            "the background run to be recorded",
        )[0]
    finally:
        service = running(ws, "train")
        if service is not None:
            stop(ws, [service])

    assert (run["trigger"], run["status"], run["owner"][:11]) == (
        "retrain_request",
        "ok",
        "background-",
    )
    assert "new labels" in run["summary"]["reason"] and run["summary"]["version"] == "2"
    [request] = [d for d in read_decisions(ws) if d.get("via") == "background"]
    assert request["reason"] == "new labels" and request["log"] == str(ws.state / "retrain.log")
    assert [d["outcome"] for d in outcomes(ws)] == ["trained"]
    assert "registered version 2" in (ws.state / "retrain.log").read_text()


def test_new_data_alone_retrains_only_once_the_champion_is_max_versions_behind(trained_ws):
    from scheduling import set_section

    from core.data.pipeline import run_pipeline
    from core.lifecycle import training_due
    from core.workspace.demo import drip

    def after_a_new_day(retrain: dict) -> tuple[bool, str]:
        drip(trained_ws.root, 1)
        assert run_pipeline(Workspace.open(trained_ws.root)).status == "ok"
        return training_due(set_section(trained_ws.root, "monitoring", {"retrain": retrain}))

    policy = {"on_new_data": False, "max_versions_behind": 2}
    one_behind = after_a_new_day(policy)
    two_behind = after_a_new_day(policy)
    never = training_due(
        set_section(trained_ws.root, "monitoring", {"retrain": {"on_new_data": False}})
    )
    every = training_due(set_section(trained_ws.root, "monitoring", {"retrain": {}}))

    assert one_behind == (
        False,
        "the last training (v1) is 1 data version(s) behind, fewer than "
        "monitoring.retrain.max_versions_behind (2): waiting for a retrain request or more data",
    )
    assert two_behind[0] and two_behind[1].endswith("and 2 versions behind")
    assert not never[0] and "new data alone does not retrain" in never[1]
    assert every[0] and "is newer than the champion's" in every[1]  # the default: every version
