"""The `schedules:` section and its triggers: defaults, per-job overrides, crontab weekdays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.config import parse_config
from core.errors import ConfigError
from core.jobs import JobsDB, run_text
from scheduler.app import crontab_weekdays, make_trigger, signature

BASE = {"task": "classification", "target": "y"}


def schedules(section: dict | None = None):
    return parse_config({**BASE, **({"schedules": section} if section is not None else {})})


def test_an_empty_section_gives_the_standard_day():
    cfg = schedules({}).schedules
    assert (cfg.timezone, cfg.data_pipeline.cron, cfg.training_pipeline.cron) == (
        "UTC",
        "0 2 * * *",
        "0 4 * * *",
    )
    assert cfg.drift_check.cron == "0 * * * *" and cfg.deploy.cron is None
    assert (cfg.data_pipeline.sla_minutes, cfg.training_pipeline.sla_minutes) == (30, 120)
    assert schedules().schedules == cfg


def test_a_job_key_overrides_only_itself_and_an_interval_replaces_the_cron():
    cfg = schedules(
        {"data_pipeline": {"cron": "30 1 * * *"}, "drift_check": {"interval_seconds": 600}}
    ).schedules
    assert cfg.data_pipeline.cron == "30 1 * * *" and cfg.data_pipeline.sla_minutes == 30
    assert cfg.drift_check.cron is None and cfg.drift_check.interval_seconds == 600
    assert cfg.drift_check.describe("UTC") == "every 600 s"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"timezone": "Mars/Olympus"}, "schedules.timezone"),
        ({"drift_check": {"cron": "0 * *"}}, "schedules.drift_check.cron"),
        ({"data_pipeline": {"retries": -1}}, "schedules.data_pipeline.retries"),
        ({"deploy": {"cronn": "0 * * * *"}}, "schedules.deploy.cronn"),
        ({"deploy": {"cron": "0 * * * *", "interval_seconds": 5}}, "schedules.deploy"),
    ],
)
def test_a_bad_schedule_names_its_key(section, key):
    with pytest.raises(ConfigError, match=f"key '{key}'"):
        schedules(section)


def test_a_cron_apscheduler_rejects_names_the_key():
    spec = schedules({"data_pipeline": {"cron": "99 2 * * *"}}).schedules.data_pipeline
    with pytest.raises(ConfigError, match=r"schedules.data_pipeline.cron '99 2 \* \* \*'"):
        make_trigger("data_pipeline", spec, "UTC")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("*/2", "sun,tue,thu,sat"),
        ("sat,0", "sat,sun"),
        ("mon-fri", "mon-fri"),
    ],
)
def test_crontab_weekdays_count_from_sunday(field, expected):
    assert crontab_weekdays(field) == expected


def test_a_weekly_cron_fires_on_the_crontab_weekday():
    spec = schedules({"training_pipeline": {"cron": "0 4 * * 1"}}).schedules.training_pipeline
    trigger = make_trigger("training_pipeline", spec, "Europe/Paris")
    fire = trigger.get_next_fire_time(None, datetime(2013, 1, 16, tzinfo=UTC))  # a Wednesday
    assert (fire.strftime("%A %H:%M"), str(fire.tzinfo)) == ("Monday 04:00", "Europe/Paris")
    assert signature(spec, "Europe/Paris") == "cron:0 4 * * 1@Europe/Paris"


def test_the_lease_is_taken_once_renewed_by_its_owner_and_free_after_release(tmp_path):
    db = JobsDB(f"sqlite:///{tmp_path / 'jobs.db'}")
    assert db.holder() is None
    assert db.acquire("a", 30) and not db.acquire("b", 30)
    assert db.renew("a", 30) and not db.renew("b", 30)
    assert db.holder()["owner"] == "a" and db.holder()["live"]
    db.release("a")
    assert db.acquire("b", 30) and not db.renew("a", 30)
    assert db.acquire("c", -1) is False  # b still holds it
    db.release("b")
    assert db.acquire("c", 0.001)


def test_commands_are_claimed_once(tmp_path):
    db = JobsDB(f"sqlite:///{tmp_path / 'jobs.db'}")
    first = db.enqueue("deploy", "run", {"x": 1}, by="me")
    assert db.pending_commands() == 1
    claimed = db.take_commands("leader")
    assert [(c["id"], c["params"]) for c in claimed] == [(first, {"x": 1})]
    assert db.take_commands("other") == [] and db.pending_commands() == 0
    with pytest.raises(ValueError, match="unknown job"):
        db.enqueue("nightly", "run")


def test_a_reader_never_creates_the_sqlite_file(tmp_path):
    db = JobsDB(f"sqlite:///{tmp_path / 'absent' / 'jobs.db'}")
    assert (db.runs(), db.schedule(), db.holder(), db.last_runs()) == ([], {}, None, {})
    assert not (tmp_path / "absent" / "jobs.db").exists()


def test_run_text_says_what_a_run_did():
    training = {
        "job": "training_pipeline",
        "status": "ok",
        "summary": {
            "version": "3",
            "best": "lightgbm",
            "promoted": False,
            "gates": "fail",
            "gates_failed": ["beat_champion: 0.70 < 0.71"],
        },
    }
    assert run_text(training) == "v3 lightgbm: gates fail: beat_champion: 0.70 < 0.71"
    rollout = {
        "job": "deploy",
        "status": "ok",
        "summary": {
            "mode": "docker",
            "live": "wb-x-api-green",
            "previous": "wb-x-api-blue",
            "version": "4",
            "url": "http://127.0.0.1:8000",
        },
    }
    assert run_text(rollout) == (
        "wb-x-api-green serves v4 at http://127.0.0.1:8000; wb-x-api-blue kept for rollback"
    )
    running = {"job": "deploy", "status": "running", "progress": 0.5, "message": "reloading"}
    assert run_text(running) == "50% reloading"
    skipped = {"job": "drift_check", "status": "skipped", "summary": {"reason": "no champion"}}
    assert run_text(skipped) == "no champion"
