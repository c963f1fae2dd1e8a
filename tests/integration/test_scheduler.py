"""The scheduler for real: APScheduler with its SQLAlchemy job store in a temp workspace.

Runs are started with run-now commands and short intervals, so tests take seconds, not cron
times. Process tests run `python -m app.cli scheduler` and kill it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime

import pytest
from cli_output import flat, wide_console
from scheduling import (
    finished_run,
    leader_pid,
    running_service,
    scheduler_process,
    set_schedules,
    set_section,
    wait_for,
)
from servers import api_server
from typer.testing import CliRunner
from workspaces import set_training

from app.cli import app
from core.alerts import read_alerts
from core.data.pipeline import pipeline_lock
from core.data.versioning import latest_version
from core.jobs import JobsDB
from core.workspace import Workspace
from core.workspace.demo import drip
from scheduler import tasks


def alert_kinds(ws: Workspace) -> list[str]:
    return [a["kind"] for a in read_alerts(ws.alerts_path)]


def overlapping(runs: list[dict]) -> list[tuple[int, int]]:
    spans = sorted((r["started_at"], r["finished_at"] or "9", r["id"]) for r in runs)
    return [(a[2], b[2]) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]


def test_jobs_run_and_record_history(versioned_ws):
    ws = set_schedules(versioned_ws.root)
    drip(ws.root, 1)
    db = JobsDB.for_workspace(ws)
    db.enqueue("training_pipeline", "pause", by="test")  # the new version's training: recorded
    with running_service(ws):
        data = finished_run(db, db.enqueue("data_pipeline", "run", by="test"))
        again = finished_run(db, db.enqueue("data_pipeline", "run", by="test"))
        deploy = finished_run(db, db.enqueue("deploy", "run", by="test"))

    assert data["status"] == "ok" and data["trigger"] == "manual"
    assert data["summary"]["version"] and len(data["summary"]["accepted"]) == 1
    assert data["duration_s"] > 0 and data["progress"] == 1.0
    assert again["status"] == "skipped" and "nothing to ingest" in again["summary"]["message"]
    assert deploy["status"] == "ok" and deploy["summary"]["reachable"] is False
    history = db.runs()
    chained = [r for r in history if r["job"] == "training_pipeline"]
    assert [r["job"] for r in history if r not in chained] == [
        "deploy", "data_pipeline", "data_pipeline"
    ]  # fmt: skip
    assert all(r["finished_at"] and r["owner"] for r in history)
    # only the run that made a version chains a training (here paused, so recorded as skipped)
    assert [(r["trigger"], r["status"]) for r in chained] == [("after_data", "skipped")]
    assert "paused" in chained[0]["error"]


def test_a_failing_job_is_retried_alerted_and_does_not_stop_the_others(versioned_ws):
    ws = set_schedules(versioned_ws.root, data_pipeline={"retries": 1, "backoff_seconds": 0.5})
    db = JobsDB.for_workspace(ws)
    with running_service(ws), pipeline_lock(ws):  # the pipeline is busy: every attempt fails
        db.enqueue("data_pipeline", "run", by="test")
        deploy = finished_run(db, db.enqueue("deploy", "run", by="test"))
        failed = wait_for(
            lambda: len(r := db.runs(job="data_pipeline", status="failed")) == 2 and r,
            30,
            "two failed attempts",
        )
        drift = finished_run(db, db.enqueue("drift_check", "run", by="test"))

    assert [r["attempt"] for r in failed] == [1, 0]
    assert [r["trigger"] for r in failed] == ["retry", "manual"]
    assert all("another data pipeline run holds" in r["error"] for r in failed)
    assert failed[1]["summary"]["retry_in_s"] == 0.5
    assert deploy["status"] == "ok" and drift["status"] == "skipped"  # no champion yet
    alerts = [a for a in read_alerts(ws.alerts_path) if a["kind"] == "scheduler.job_failed"]
    assert len(alerts) == 1 and "after 2 attempts" in alerts[0]["message"]


def test_a_pending_retry_survives_a_scheduler_restart(versioned_ws):
    ws = set_schedules(versioned_ws.root, data_pipeline={"retries": 1, "backoff_seconds": 4})
    db = JobsDB.for_workspace(ws)
    with pipeline_lock(ws):  # the pipeline is busy: every attempt fails
        with running_service(ws):
            first = finished_run(db, db.enqueue("data_pipeline", "run", by="test"))
        assert first["status"] == "failed" and first["summary"]["retry_in_s"] == 4
        pending = [k for k in db.stored_next_runs() if ":retry:" in k]
        assert len(pending) == 1  # waiting in the job store, not in the stopped process
        with running_service(ws):  # a new leader (as after a restart or a takeover)
            retried = wait_for(
                lambda: [
                    r
                    for r in db.runs(job="data_pipeline")
                    if r["trigger"] == "retry" and r["status"] != "running"
                ],
                30,
                "the retry after the restart",
            )
    assert retried[0]["attempt"] == 1 and "another data pipeline run holds" in retried[0]["error"]
    assert not [k for k in db.stored_next_runs() if ":retry:" in k]  # ran once, then removed


def test_a_job_never_overlaps_itself(versioned_ws):
    ws = set_schedules(versioned_ws.root)
    drip(ws.root, 4)
    db = JobsDB.for_workspace(ws)
    with running_service(ws):
        ids = [db.enqueue("data_pipeline", "run", by="test") for _ in range(3)]
        runs = [finished_run(db, i) for i in ids]

    assert sorted(r["status"] for r in runs) == ["ok", "skipped", "skipped"]
    skipped = [r for r in runs if r["status"] == "skipped"]
    assert all("still in progress" in r["error"] for r in skipped)
    assert overlapping([r for r in db.runs() if r["status"] == "ok"]) == []


def test_jobs_pauses_and_history_survive_a_restart(versioned_ws):
    ws = set_schedules(versioned_ws.root, drift_check={"interval_seconds": 3600})
    db = JobsDB.for_workspace(ws)
    with running_service(ws) as first:
        finished_run(db, db.enqueue("deploy", "run", by="test"))
        db.enqueue("drift_check", "pause", by="test")
        wait_for(lambda: db.schedule()["drift_check"]["paused"], 10, "the pause")
        next_training = db.schedule()["training_pipeline"]["next_run_at"]
    assert db.stored_next_runs()["drift_check"] is None  # paused in APScheduler's store

    with running_service(ws) as second:
        assert second.owner != first.owner
        schedule = db.schedule()
        assert schedule["drift_check"]["paused"] is True
        assert schedule["training_pipeline"]["next_run_at"] == next_training
        assert [r["job"] for r in db.runs()] == ["deploy"]
        db.enqueue("drift_check", "resume", by="test")
        wait_for(lambda: db.schedule()["drift_check"]["next_run_at"], 10, "the resume")
    assert db.schedule()["drift_check"]["paused"] is False


def test_a_run_missed_while_the_scheduler_was_down_is_recorded_and_alerted(versioned_ws):
    ws = set_schedules(versioned_ws.root, misfire_grace_seconds=2, deploy={"interval_seconds": 10})
    db = JobsDB.for_workspace(ws)
    with running_service(ws):
        pass  # stopped before the first run: the job store keeps its next run time
    due = db.stored_next_runs()["deploy"]
    time.sleep(max(0.0, due + 4 - time.time()))  # 4 s late: beyond the 2 s grace

    with running_service(ws):
        missed = wait_for(lambda: db.runs(job="deploy", status="missed"), 20, "a missed run")

    assert "not started within 2 s" in missed[0]["error"]
    assert "scheduler.missed_run" in alert_kinds(ws)


def test_a_run_past_its_sla_raises_an_alert(versioned_ws):
    ws = set_schedules(versioned_ws.root, data_pipeline={"sla_minutes": 0.005})
    drip(ws.root, 3)
    db = JobsDB.for_workspace(ws)
    with running_service(ws):
        run = finished_run(db, db.enqueue("data_pipeline", "run", by="test"))

    assert run["status"] == "ok" and run["duration_s"] > 0.3 and run["sla_alerted"]
    sla = [a for a in read_alerts(ws.alerts_path) if a["kind"] == "scheduler.sla_exceeded"]
    assert len(sla) == 1 and "past its SLA of 0.3 s" in sla[0]["message"]


@pytest.mark.slow
def test_a_training_that_promotes_is_followed_by_the_deploy_step(versioned_ws):
    set_training(versioned_ws.root, candidates=["logistic_regression"])
    ws = set_schedules(versioned_ws.root)
    db = JobsDB.for_workspace(ws)
    with running_service(ws):
        training = finished_run(db, db.enqueue("training_pipeline", "run", by="test"), 300)
        # generous: under CI load a registration also compiles, writes its card and references
        deploy = wait_for(
            lambda: [r for r in db.runs(job="deploy") if r["status"] != "running"],
            180,
            "the deploy step after the promotion",
        )[0]
        again = finished_run(db, db.enqueue("training_pipeline", "run", by="test"), 300)

    s = training["summary"]
    assert training["status"] == "ok" and s["promoted"] and s["champion_after"] == "1"
    assert "first registered model" in s["promotion_reason"]
    assert deploy["trigger"] == "promotion"
    assert again["status"] == "skipped" and "already trained" in again["summary"]["reason"]


def held_data_runs(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Data runs wait for `release` before the real pipeline runs (`started` says one waits)."""
    started, release = threading.Event(), threading.Event()
    real_data_job = tasks.JOBS["data_pipeline"]

    def slow_data_job(ctx):  # the real pipeline, after a hold: a data run overrunning 04:00
        started.set()
        release.wait(60)
        return real_data_job(ctx)

    monkeypatch.setitem(tasks.JOBS, "data_pipeline", slow_data_job)
    return started, release


def test_a_training_put_off_by_a_data_run_without_new_data_still_runs_after_it(
    trained_ws, monkeypatch
):
    ws = set_schedules(trained_ws.root)
    started, release = held_data_runs(monkeypatch)
    db = JobsDB.for_workspace(ws)
    with running_service(ws) as service:
        data_command = db.enqueue("data_pipeline", "run", by="test")
        assert started.wait(30)
        service.scheduler.modify_job("training_pipeline", next_run_time=datetime.now(UTC))
        wait_for(lambda: db.runs(job="training_pipeline"), 30, "the scheduled training's turn")
        release.set()
        data = finished_run(db, data_command)
        runs = wait_for(
            lambda: len(r := db.runs(job="training_pipeline")) == 2 and r[0]["finished_at"] and r,
            30,
            "the training after the data run",
        )

    assert data["status"] == "skipped"  # nothing new landed: no version, the training still runs
    assert [(r["trigger"], r["status"]) for r in runs] == [
        ("after_data", "skipped"),
        ("schedule", "skipped"),
    ]
    assert "already trained on the latest data version" in runs[0]["summary"]["reason"]
    assert runs[0]["started_at"] >= data["finished_at"]


@pytest.mark.slow
def test_a_training_due_during_a_data_run_waits_and_trains_on_the_new_version(
    versioned_ws, monkeypatch
):
    set_training(versioned_ws.root, candidates=["logistic_regression"])
    ws = set_schedules(versioned_ws.root)
    drip(ws.root, 1)
    before = latest_version(ws).id
    started, release = held_data_runs(monkeypatch)
    db = JobsDB.for_workspace(ws)
    with running_service(ws) as service:
        data_command = db.enqueue("data_pipeline", "run", by="test")
        assert started.wait(30)
        service.scheduler.modify_job("training_pipeline", next_run_time=datetime.now(UTC))
        put_off = wait_for(
            lambda: db.runs(job="training_pipeline"), 30, "the scheduled training's turn"
        )
        release.set()
        data = finished_run(db, data_command)
        training = wait_for(
            lambda: db.runs(job="training_pipeline", status="ok"), 300, "the training"
        )[0]
        deployed = wait_for(lambda: db.runs(job="deploy", status="ok"), 30, "the deploy step")

    assert [(r["trigger"], r["status"]) for r in put_off] == [("schedule", "skipped")]
    assert "starts when it ends" in put_off[0]["error"]
    assert data["status"] == "ok" and data["summary"]["version"] != before
    assert training["trigger"] == "after_data"
    assert training["started_at"] >= data["finished_at"]
    assert training["summary"]["data_version"] == data["summary"]["version"]
    assert len(db.runs(job="training_pipeline")) == 2  # the put-off record and one training
    assert deployed[0]["trigger"] == "promotion"


@pytest.mark.slow
def test_the_deploy_step_reloads_a_real_api_and_a_refusal_is_a_failure(trained_ws, monkeypatch):
    ws = set_schedules(trained_ws.root, deploy={"retries": 1, "backoff_seconds": 0.2})
    db = JobsDB.for_workspace(ws)
    with api_server(ws.root, WORKBENCH_ADMIN_KEY="right") as (url, _):
        monkeypatch.setenv("WORKBENCH_API_URL", url)
        monkeypatch.setenv("WORKBENCH_ADMIN_KEY", "right")
        with running_service(ws):
            ok = finished_run(db, db.enqueue("deploy", "run", by="test"))
            monkeypatch.setenv("WORKBENCH_ADMIN_KEY", "wrong")
            db.enqueue("deploy", "run", by="test")
            failed = wait_for(
                lambda: len(r := db.runs(job="deploy", status="failed")) == 2 and r, 30
            )

    assert ok["status"] == "ok" and ok["summary"]["url"] == url
    assert ok["summary"]["reachable"] and ok["summary"]["version"] == "1"
    assert all("answered HTTP 403" in r["error"] and "admin key" in r["error"] for r in failed)
    assert [r["trigger"] for r in failed] == ["retry", "manual"]
    assert "scheduler.job_failed" in alert_kinds(ws)


def test_a_docker_deploy_step_without_an_engine_fails_naming_the_setting(trained_ws, monkeypatch):
    set_schedules(trained_ws.root, deploy={"retries": 0})
    ws = set_section(trained_ws.root, "deploy", {"docker": {"enabled": True}})
    monkeypatch.setenv("DOCKER_HOST", f"unix://{ws.root / 'no-engine.sock'}")
    db = JobsDB.for_workspace(ws)
    with running_service(ws):
        failed = finished_run(db, db.enqueue("deploy", "run", by="test"))
    assert failed["status"] == "failed"
    assert "deploy.docker is enabled" in failed["error"] and "no Docker engine" in failed["error"]
    assert "scheduler.job_failed" in alert_kinds(ws)


def test_cli_lists_queues_and_shows_history(versioned_ws):
    ws = set_schedules(versioned_ws.root)
    root, cli = str(ws.root), CliRunner()

    with wide_console():  # tables: their cells are cut to fit a narrow width
        listed = cli.invoke(app, ["jobs", "list", "-w", root])
    assert listed.exit_code == 0, listed.output
    said = flat(listed.output)
    assert "cron 0 2 * * * (UTC)" in said and "no scheduler is running" in said

    queued = cli.invoke(app, ["jobs", "pause", "drift_check", "-w", root])
    assert queued.exit_code == 0 and "queued (command 1)" in flat(queued.output)
    unknown = cli.invoke(app, ["jobs", "run", "nightly", "-w", root])
    assert unknown.exit_code == 1 and "unknown job 'nightly'" in flat(unknown.output)

    db = JobsDB.for_workspace(ws)
    with running_service(ws):
        wait_for(lambda: db.schedule().get("drift_check", {}).get("paused"), 10, "the pause")
        ran = cli.invoke(app, ["jobs", "run", "deploy", "-w", root, "--wait"])
        with wide_console():
            listed = cli.invoke(app, ["jobs", "list", "-w", root])
    assert ran.exit_code == 0 and "deploy run 1: ok" in flat(ran.output)
    assert "paused" in listed.output and "scheduler running" in flat(listed.output)
    with wide_console():
        history = cli.invoke(app, ["jobs", "history", "-w", root])
    assert history.exit_code == 0 and "│ deploy │ manual" in flat(history.output)


# ----------------------------------------------------------------------------- real processes
@pytest.mark.slow
def test_kill_9_mid_job_is_recovered_as_interrupted(versioned_ws, tmp_path):
    set_training(versioned_ws.root, candidates=["logistic_regression", "lightgbm"])
    ws = set_schedules(versioned_ws.root)
    db = JobsDB.for_workspace(ws)
    with scheduler_process(ws.root, tmp_path / "first.log") as first:
        wait_for(lambda: leader_pid(db) == first.pid, 60, "the first scheduler to lead")
        command = db.enqueue("training_pipeline", "run", {"force": True}, by="test")
        wait_for(
            lambda: (r := db.runs(command_id=command)) and (r[0]["progress"] or 0) > 0,
            120,
            "the training to be under way",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert db.runs(command_id=command)[0]["status"] == "running"  # nobody knows yet

    with scheduler_process(ws.root, tmp_path / "second.log") as second:
        wait_for(lambda: leader_pid(db) == second.pid, 60, "the restart to lead")
        run = wait_for(
            lambda: (r := db.runs(command_id=command)[0])["status"] != "running" and r, 30
        )
        after = finished_run(db, db.enqueue("deploy", "run", by="test"))

    assert run["status"] == "interrupted" and "stopped during the run" in run["error"]
    assert "scheduler.run_interrupted" in alert_kinds(ws)
    assert after["status"] == "ok" and str(second.pid) in after["owner"]


@pytest.mark.slow
def test_a_standby_scheduler_waits_and_takes_over_without_double_runs(versioned_ws, tmp_path):
    ws = set_schedules(versioned_ws.root)
    db = JobsDB.for_workspace(ws)
    with (
        scheduler_process(ws.root, tmp_path / "a.log") as a,
        scheduler_process(ws.root, tmp_path / "b.log") as b,
    ):
        leader = wait_for(lambda: leader_pid(db), 60, "a leader")
        standby = b if leader == a.pid else a
        standby_log = tmp_path / ("b.log" if standby is b else "a.log")
        wait_for(lambda: "standby" in standby_log.read_text(), 60, "the other to stand by")
        commands = [db.enqueue("deploy", "run", by="test") for _ in range(4)]
        runs = [finished_run(db, c) for c in commands]
        assert all(str(leader) in r["owner"] for r in runs)
        assert len(db.runs(job="deploy")) == 4  # each command ran exactly once

        os.kill(leader, signal.SIGTERM)  # a clean stop releases the lease at once
        wait_for(lambda: leader_pid(db) == standby.pid, 30, "the standby to take over")
        after = finished_run(db, db.enqueue("deploy", "run", by="test"))
    assert str(standby.pid) in after["owner"]


# ----------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_job_store_history_and_lock_on_postgresql(versioned_ws, pg_url):
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "DROP TABLE IF EXISTS job_runs, job_commands, job_schedule, scheduler_lock, "
                "apscheduler_jobs"
            )
        )
    engine.dispose()
    ws = set_schedules(versioned_ws.root, store_url=pg_url)
    db = JobsDB.for_workspace(ws)
    assert db.url == pg_url and not (ws.state / "scheduler.db").exists()
    with running_service(ws) as first:
        run = finished_run(db, db.enqueue("deploy", "run", by="test"))
        db.enqueue("data_pipeline", "pause", by="test")
        wait_for(lambda: db.schedule()["data_pipeline"]["paused"], 10, "the pause")
        assert not db.acquire("someone-else", 3)  # the lease is held
    with running_service(ws) as second:
        assert second.owner != first.owner and db.schedule()["data_pipeline"]["paused"]
    assert run["status"] == "ok" and [r["id"] for r in db.runs()] == [run["id"]]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, next_run_time FROM apscheduler_jobs"))
        stored = {r[0]: r[1] for r in rows}
    assert stored["data_pipeline"] is None and stored["training_pipeline"] > time.time()
    assert db.holder()["live"] is False  # released at stop
