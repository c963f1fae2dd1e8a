"""Jobs page (and the Overview's loop section) with AppTest, on a real scheduler database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from scheduling import running_service, set_schedules, wait_for
from ui_helpers import page, texts

from core.jobs import JobsDB
from core.workspace import Workspace


def seed_history(db: JobsDB) -> dict[str, int]:
    """Three finished runs and one running, as a scheduler leaves them."""
    db.ensure()
    ids = {}
    ids["data"] = db.start_run("data_pipeline", "schedule", "host:1:abc")
    db.finish_run(ids["data"], "ok", {"message": "1 batch(es) accepted", "version": "abc-123"})
    ids["training"] = db.start_run("training_pipeline", "schedule", "host:1:abc")
    db.finish_run(ids["training"], "failed", {}, "no data version yet: run the pipeline")
    ids["drift"] = db.start_run("drift_check", "manual", "host:1:abc")
    db.finish_run(ids["drift"], "skipped", {"reason": "no champion yet: nothing to monitor"})
    ids["running"] = db.start_run("deploy", "promotion", "host:1:abc")
    db.progress(ids["running"], 0.4, "asking the API to reload the champion")
    return ids


def test_jobs_page_shows_schedule_history_timeline_and_live_progress(ui_ws_copy):
    db = JobsDB.for_workspace(Workspace.open(ui_ws_copy))
    seed_history(db)

    at = page("jobs")

    assert not at.exception
    assert texts(at.title) == ["Jobs"]
    assert any("No scheduler is running" in t for t in texts(at.warning))
    jobs = at.dataframe[0].value
    assert list(jobs["job"]) == [
        "data_pipeline", "training_pipeline", "drift_check", "deploy", "feedback_export",
        "prediction_log_compaction",
    ]  # fmt: skip
    assert list(jobs["status"])[:4] == ["ok", "failed", "skipped", "running"]
    assert jobs.loc[1, "last error"] == "no data version yet: run the pipeline"
    assert jobs.loc[0, "schedule"] == "cron 0 2 * * * (UTC)"
    assert jobs.loc[3, "schedule"] == "after each promotion"
    progress = at.get("progress")
    assert len(progress) == 1 and "asking the API to reload" in progress[0].proto.text
    history = at.dataframe[1].value
    assert list(history["job"]) == ["deploy", "drift_check", "training_pipeline", "data_pipeline"]
    assert "no champion yet" in history.loc[1, "summary"]
    assert len(at.get("plotly_chart")) == 1
    assert at.selectbox(key="jobs_detail").value == history.loc[0, "run"]


def test_run_now_and_pause_from_the_page_reach_the_running_scheduler(ui_ws_copy):
    ws = set_schedules(ui_ws_copy)
    db = JobsDB.for_workspace(ws)
    with running_service(ws):
        at = page("jobs")
        assert any("Scheduler **running**" in t for t in texts(at.success))

        at.selectbox(key="jobs_job").set_value("deploy").run()
        at.button(key="jobs_run").click().run()
        assert not at.exception
        assert "Run deploy: queued (command 1)." in texts(at.success)
        run = wait_for(lambda: [r for r in db.runs(job="deploy") if r["status"] == "ok"], 30)[0]
        assert run["trigger"] == "manual" and run["command_id"] == 1

        at.selectbox(key="jobs_job").set_value("drift_check").run()
        at.button(key="jobs_pause").click().run()
        wait_for(lambda: db.schedule()["drift_check"]["paused"], 10, "the pause")
        at.run()
    assert not at.exception
    jobs = at.dataframe[0].value
    assert jobs.set_index("job").loc["drift_check", "state"] == "paused"
    assert at.dataframe[1].value.loc[0, "trigger"] == "manual"


def test_training_run_now_can_be_forced(ui_ws_copy):
    db = JobsDB.for_workspace(Workspace.open(ui_ws_copy))
    at = page("jobs")

    at.selectbox(key="jobs_job").set_value("training_pipeline").run()
    at.checkbox(key="jobs_force").check().run()
    at.button(key="jobs_run").click().run()

    assert not at.exception
    command = db.take_commands("test")[0]
    assert (command["job"], command["action"], command["params"]) == (
        "training_pipeline",
        "run",
        {"force": True},
    )


def test_an_unreachable_scheduler_database_is_one_line_not_a_traceback(ui_ws_copy):
    set_schedules(ui_ws_copy, store_url="postgresql+psycopg://nobody@127.0.0.1:1/none")

    at = page("jobs")

    assert not at.exception
    assert any("Reading the scheduler database failed" in t for t in texts(at.error))


def test_overview_shows_the_loop_at_a_glance(ui_ws_copy):
    ws = Workspace.open(ui_ws_copy)
    db = JobsDB.for_workspace(ws)
    db.ensure().acquire("host:9:xyz", 60)
    soon = datetime.now(UTC) + timedelta(minutes=30)
    db.save_schedule(
        [
            {
                "job": "drift_check",
                "trigger": "cron",
                "signature": "s",
                "enabled": True,
                "paused": False,
                "next_run_at": soon,
                "sla_minutes": 10,
            },
            {
                "job": "data_pipeline",
                "trigger": "cron",
                "signature": "s",
                "enabled": True,
                "paused": False,
                "next_run_at": soon + timedelta(hours=2),
                "sla_minutes": 30,
            },
        ],
        "host:9:xyz",
    )

    at = page("overview")

    assert not at.exception
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    assert shown["Next scheduled run"][0] == "drift_check"
    assert "scheduler running" in shown["Next scheduled run"][1]
    assert "then data_pipeline" in shown["Next scheduled run"][1]  # every job's next run
    assert shown["Challenger"][0] == "none" and shown["Last promotion"][0] == "none"
    assert shown["Drift"] == ("not checked", "no check yet")
    assert int(shown["Open incidents"][0]) >= 1  # the quarantined batch of the fixture
    assert at.dataframe[0].value["message"].str.contains("quarantin|missing_rate").any()


@pytest.mark.slow
def test_overview_loop_cards_read_a_trained_registry(trained_ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(trained_ws.root))

    at = page("overview")

    assert not at.exception
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    assert shown["Last promotion"][0] == "v- → v1"
    assert shown["Champion test roc_auc"][1].startswith("v1 · data ")
