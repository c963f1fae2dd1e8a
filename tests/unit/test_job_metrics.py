"""The scheduler's job outcomes exported for Prometheus (`core.jobs.prometheus`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from core.jobs import JobsDB
from core.jobs.prometheus import JobsCollector, last_outcomes


def _run(db: JobsDB, job: str, status: str) -> None:
    db.finish_run(db.start_run(job, "schedule", "test"), status)


def test_the_newest_ok_or_failed_run_of_each_job_decides_its_gauge(tmp_path):
    db = JobsDB(f"sqlite:///{tmp_path / 'jobs.db'}")
    _run(db, "data_pipeline", "failed")
    _run(db, "data_pipeline", "skipped")  # says nothing about whether the job works
    _run(db, "training_pipeline", "failed")
    _run(db, "training_pipeline", "ok")
    db.start_run("drift_check", "schedule", "test")  # still running: no outcome yet

    outcomes = last_outcomes(db)

    assert {job: o["failed"] for job, o in outcomes.items()} == {
        "data_pipeline": True,
        "training_pipeline": False,
    }
    assert all(o["time"] > 0 for o in outcomes.values())


def test_the_collector_exports_one_sample_per_job_and_nothing_without_a_store(demo_ws):
    registry = CollectorRegistry()
    registry.register(JobsCollector(demo_ws))
    assert b"workbench_job_last_run_failed{" not in generate_latest(registry)

    db = JobsDB.for_workspace(demo_ws)
    _run(db, "data_pipeline", "failed")
    text = generate_latest(registry).decode()

    assert 'workbench_job_last_run_failed{job_name="data_pipeline"} 1.0' in text
    assert 'workbench_job_last_run_timestamp_seconds{job_name="data_pipeline"}' in text


def test_a_job_store_that_cannot_be_reached_exports_nothing_and_the_scrape_succeeds(
    demo_ws, monkeypatch
):
    from servers import free_port

    from core.jobs.tables import URL_ENV

    monkeypatch.setenv(URL_ENV, f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/jobs")
    registry = CollectorRegistry()
    registry.register(JobsCollector(demo_ws))

    text = generate_latest(registry).decode()  # no exception: the scrape is answered

    assert "workbench_job_last_run_failed{" not in text
