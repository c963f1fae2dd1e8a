"""Scheduler runs, the API's admin reload and CLI promotions land in the audit log once."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from typer.testing import CliRunner
from workspaces import copy_workspace

from api.app import create_app
from api.settings import ServeSettings
from app.cli import app
from core import access
from core.audit import EXPORT_LABELS, FAILED, OK, read_events
from core.data.pipeline import pipeline_lock
from core.jobs import JobsDB
from core.registry.promotion import default_actor
from core.serving import keys
from core.workspace import Workspace
from scheduler.runner import AUDIT_ACTIONS, JobRunner
from scheduler.settings import SchedulerSettings


def _runner(ws: Workspace) -> tuple[JobRunner, JobsDB]:
    settings = SchedulerSettings.from_workspace(ws)
    db = JobsDB(settings.url).ensure()
    return JobRunner(settings, db, "test-owner"), db


def test_every_job_has_an_audit_action_named_as_the_roles_table_names_it():
    assert set(AUDIT_ACTIONS) == {
        "data_pipeline",
        "training_pipeline",
        "drift_check",
        "deploy",
        "feedback_export",
        "prediction_log_compaction",
    }
    assert all(a in access.ACTIONS or a == EXPORT_LABELS for a in AUDIT_ACTIONS.values())


def test_scheduler_runs_are_audited_as_the_asker_or_the_scheduler_skipped_ones_not(demo_ws):
    runner, db = _runner(demo_ws)
    asked = db.enqueue("deploy", "run", by="alice")
    deploy = runner.run("deploy", "manual", command_id=asked)  # no API answers: ok, unreachable
    with pipeline_lock(demo_ws):  # the pipeline is busy: the scheduled run fails
        data = runner.run("data_pipeline")
    drift = runner.run("drift_check")  # no champion yet: skipped

    assert (deploy["status"], data["status"], drift["status"]) == ("ok", "failed", "skipped")
    failed, done = read_events(demo_ws)
    assert (done["actor"], done["source"], done["outcome"]) == ("alice", "scheduler", OK)
    assert (done["action"], done["target"]) == (access.DEPLOY_ROLLOUT, "deploy")
    assert done["details"] == {"run_id": deploy["id"], "trigger": "manual", "attempt": 0,
                               "command": asked}  # fmt: skip
    assert (failed["actor"], failed["outcome"]) == ("scheduler", FAILED)
    assert (failed["action"], failed["target"]) == (access.RUN_PIPELINE, "data_pipeline")
    assert failed["reason"] == data["error"] and "another data pipeline run holds" in data["error"]


def test_an_admin_reload_is_audited_with_the_admin_key_name(demo_ws, tmp_path):
    admin_key = keys.create(demo_ws.root, "ops", role="admin")
    predict_key = keys.create(demo_ws.root, "mobile-app")
    settings = ServeSettings.from_workspace(
        demo_ws, predictions_dir=tmp_path / "log", poll_seconds=60
    )
    with TestClient(create_app(settings)) as client:
        refused = client.post("/admin/reload", headers={"X-API-Key": predict_key})
        done = client.post("/admin/reload", headers={"X-API-Key": admin_key})

    assert (refused.status_code, done.status_code) == (403, 200)
    [event] = read_events(demo_ws)  # the refused call never reached the reload
    assert (event["actor"], event["source"], event["outcome"]) == ("ops", "api", OK)
    assert event["action"] == access.RELOAD_MODEL
    assert event["details"] == {"changed": False, "version": None}
    assert admin_key not in (demo_ws.state / "audit.jsonl").read_text()


@pytest.mark.slow
def test_a_cli_promotion_is_recorded_once_by_the_registry_a_failed_one_by_the_cli(
    two_versions_template, tmp_path
):
    ws = Workspace.open(copy_workspace(two_versions_template, tmp_path / "ws"))
    before = len(read_events(ws))
    model = ws.config.model_name

    def promote(version: str):
        args = ["models", "promote", model, version, "--reason", "audit test", "-w", str(ws.root)]
        return CliRunner().invoke(app, args)

    assert promote("1").exit_code == 1  # already the champion
    assert promote("2").exit_code == 0, "v2 passes the lenient gates"
    events = read_events(ws)
    done, refused = events[: len(events) - before]  # two new events: no promotion twice
    assert (refused["source"], refused["outcome"]) == ("cli", FAILED)
    assert refused["actor"] == default_actor()
    assert (refused["action"], refused["target"]) == (access.PROMOTE, f"{model} v1")
    assert "already is the champion" in refused["reason"]
    assert refused["reason"].startswith("audit test: ")
    assert (done["source"], done["outcome"], done["target"]) == ("registry", OK, f"{model} v2")


def test_cli_data_validate_is_recorded_with_its_stage_and_status(demo_ws):
    landed = sorted((demo_ws.root / "landing").iterdir())[0]
    done = CliRunner().invoke(app, ["data", "validate", str(landed), "-w", str(demo_ws.root)])
    assert done.exit_code in (0, 1), done.output  # 1: the report failed, still recorded
    [event] = read_events(demo_ws)
    assert (event["action"], event["target"], event["source"]) == (
        access.VALIDATE_FILE,
        str(landed),
        "cli",
    )
    assert event["outcome"] == OK and event["details"]["stage"] == "raw"
    assert (event["details"]["status"] == "fail") == (done.exit_code == 1)


@pytest.mark.slow
def test_a_background_retrain_is_recorded_as_the_user_who_asked(trained_ws):
    args = [
        "train",
        "--reason",
        "audit test",
        "--requested-by",
        "alice",
        "-w",
        str(trained_ws.root),
    ]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    event = read_events(trained_ws, actions=[access.TRAIN])[0]
    assert (event["actor"], event["source"], event["outcome"]) == ("alice", "cli", OK)
    assert event["reason"] == "audit test"
    assert event["details"]["status"] in ("ok", "skipped") and event["details"]["run_id"]


def test_the_retry_of_a_queued_run_is_audited_as_the_user_who_queued_it(demo_ws, monkeypatch):
    runner, db = _runner(demo_ws)
    retries = []
    runner.scheduler = object()  # a retry is due: `submit` schedules it (caught here)
    monkeypatch.setattr(runner, "submit", lambda name, trigger, **kw: retries.append(kw))
    asked = db.enqueue("data_pipeline", "run", by="alice")
    with pipeline_lock(demo_ws):  # the pipeline is busy: the queued run fails
        first = runner.run("data_pipeline", "manual", command_id=asked)
    [retry] = retries
    assert first["status"] == "failed" and retry["params"]["by"] == "alice"
    with pipeline_lock(demo_ws):  # fails again: the retry, run as the scheduler would
        runner.run("data_pipeline", "retry", attempt=retry["attempt"], params=retry["params"])

    events = read_events(demo_ws)
    assert [(e["actor"], e["details"]["attempt"]) for e in events] == [("alice", 1), ("alice", 0)]
