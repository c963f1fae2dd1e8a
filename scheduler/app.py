"""`build_scheduler(settings, runner)`: every trigger of the workbench, declared in one place.

- time triggers from `schedules:` (cron in `schedules.timezone`, or an interval):
  `data_pipeline` 02:00, `training_pipeline` 04:00, `drift_check` hourly,
  `prediction_log_compaction` 00:15 (defaults);
- event triggers: a training that changed the champion runs `deploy`; a drift check that
  requested retraining runs `training_pipeline`; a data run that made a new data version runs
  `training_pipeline` (trigger `after_data`); a scheduled training that found a data run in
  progress (the runner put it off) runs once that data run has ended, after its retries;
- scheduler events: a run that missed its time (beyond `misfire_grace_seconds`) is recorded as
  `missed` and alerted; a start refused because the job still runs is recorded as `skipped`.

Jobs persist in APScheduler's SQLAlchemy job store (the scheduler database). A job whose
trigger did not change keeps its stored next run time across restarts, so a run that was due
while the scheduler was down is caught up (within the grace time) or recorded as missed, and a
paused job stays paused. One-off runs (run now, retries, follow-ups) live in a memory store.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.config.schedules import JOB_NAMES, JobSchedule
from core.errors import ConfigError
from core.jobs import JobsDB, engine_for
from scheduler.runner import JobRunner, run_job
from scheduler.settings import SchedulerSettings

log = logging.getLogger("workbench.scheduler")

FOLLOW_UPS = {
    # (job that finished, summary flag) -> (job to run next, trigger name)
    ("training_pipeline", "promoted"): ("deploy", "promotion"),
    ("drift_check", "retrain_requested"): ("training_pipeline", "retrain_request"),
}
AFTER_DATA = {("data_pipeline", "version"): ("training_pipeline", "after_data")}
"""The live scheduler's data -> training chain (same form as `FOLLOW_UPS`). The simulation
runs its night in order, so its data run always ends before its 04:00 training: it does
without."""


def make_trigger(name: str, spec: JobSchedule, timezone: str):
    """The APScheduler trigger of a job's schedule, or None for an on-demand job.

    Raises:
        ConfigError: the cron expression is not valid (names the key).
    """
    tz = ZoneInfo(timezone)
    if spec.interval_seconds:
        return IntervalTrigger(seconds=spec.interval_seconds, timezone=tz)
    if spec.cron:
        try:
            minute, hour, day, month, weekday = spec.cron.split()
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=crontab_weekdays(weekday),
                timezone=tz,
            )
        except ValueError as exc:
            raise ConfigError(f"schedules.{name}.cron {spec.cron!r}: {exc}") from None
    return None


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field (0 or 7 = Sunday) in APScheduler's terms (names; 0 = Monday).

    APScheduler 3 numbers weekdays from Monday, so `CronTrigger.from_crontab("0 4 * * 1")`
    would fire on Tuesdays; numbers are turned into names, names are kept.

    Raises:
        ValueError: a number outside 0-7 or a malformed part.
    """
    if field in ("*", "?"):
        return "*"
    parts = []
    for part in field.split(","):
        if any(c.isalpha() for c in part):
            parts.append(part)  # names mean the same in both
            continue
        span, _, step = part.partition("/")
        first, _, last = ("0-6" if span == "*" else span).partition("-")
        start = int(first)
        end = int(last) if last else (6 if step else start)
        if not (0 <= start <= 7 and 0 <= end <= 7):
            raise ValueError(f"weekday {part!r} is outside 0-7")
        days = range(start, end + 1, int(step) if step else 1)
        parts.extend(_DAY_NAMES[d % 7] for d in days)
    return ",".join(dict.fromkeys(parts))


def validate_triggers(settings: SchedulerSettings) -> None:
    """Build every trigger once so a bad cron fails at start with the key it is under."""
    cfg = settings.schedules
    for name in JOB_NAMES:
        make_trigger(name, cfg.job(name), cfg.timezone)


def signature(spec: JobSchedule, timezone: str) -> str:
    """What identifies a job's trigger: a changed one gets a fresh next run time."""
    if spec.interval_seconds:
        return f"interval:{spec.interval_seconds:g}"
    return f"cron:{spec.cron}@{timezone}" if spec.cron else "on demand"


def build_scheduler(settings: SchedulerSettings, runner: JobRunner) -> BackgroundScheduler:
    """A configured, not yet started scheduler with every job and event trigger declared."""
    cfg = settings.schedules
    engine = engine_for(settings.url)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine), "volatile": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=settings.max_workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(cfg.misfire_grace_seconds),
        },
        timezone=ZoneInfo(cfg.timezone),
    )
    db = JobsDB(settings.url).ensure()
    stored, mirror = db.stored_next_runs(), db.schedule()
    declared = []
    for name in JOB_NAMES:
        spec = cfg.job(name)
        trigger = make_trigger(name, spec, cfg.timezone)
        if trigger is None or not spec.enabled:
            continue
        seen = mirror.get(name) or {}
        keep = {}
        if seen.get("paused"):
            keep["next_run_time"] = None  # added paused
        elif seen.get("signature") == signature(spec, cfg.timezone) and stored.get(name):
            keep["next_run_time"] = datetime.fromtimestamp(stored[name], UTC)
        scheduler.add_job(
            run_job,
            trigger,
            args=[settings.key, name],
            id=name,
            name=name,
            replace_existing=True,
            **keep,
        )
        declared.append(name)
    db.prune_store(declared)
    scheduler.add_listener(lambda e: _on_executed(runner, e), EVENT_JOB_EXECUTED)
    scheduler.add_listener(lambda e: _on_missed(runner, e), EVENT_JOB_MISSED)
    scheduler.add_listener(lambda e: _on_busy(runner, e), EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _job_name(job_id: str) -> str:
    return job_id.split(":", 1)[0]


def _on_executed(runner: JobRunner, event: JobExecutionEvent) -> None:
    row = event.retval if isinstance(event.retval, dict) else {}
    summary = row.get("summary") or {}
    if row.get("job") == "data_pipeline":
        _resume_training(runner, row, summary)
    for (job, flag), (follow, trigger) in {**FOLLOW_UPS, **AFTER_DATA}.items():
        if row.get("job") == job and row.get("status") == "ok" and summary.get(flag):
            if (runner.db.schedule().get(follow) or {}).get("paused"):
                runner.db.record(follow, "skipped", trigger, runner.owner, f"{follow} is paused")
                continue
            log.info("%s: %s after %s run %s", follow, trigger, job, row.get("id"))
            runner.submit(follow, trigger)


def _resume_training(runner: JobRunner, row: dict, summary: dict) -> None:
    """Start the training a data run put off, once that run (and its retries) has ended.

    A data run that made a new version starts the training through `AFTER_DATA` already.
    """
    if row.get("status") == "failed" and summary.get("retry_in_s"):
        return  # the retry is a data run in progress too
    deferred = runner.take_deferred_training()
    if deferred is None or (row.get("status") == "ok" and summary.get("version")):
        return
    log.info("training_pipeline: after_data (put off by data run %s)", row.get("id"))
    runner.submit("training_pipeline", "after_data", params=deferred)


def _on_missed(runner: JobRunner, event: JobExecutionEvent) -> None:
    name = _job_name(event.job_id)
    when = event.scheduled_run_time.astimezone(UTC).isoformat(timespec="seconds")
    grace = runner.settings.schedules.misfire_grace_seconds
    error = (
        f"scheduled for {when} but not started within {grace:g} s (the scheduler was not "
        "running or was busy)"
    )
    row = runner.db.record(name, "missed", "schedule", runner.owner, error)
    runner.alert(
        "scheduler.missed_run",
        f"job {name}: a scheduled run did not happen: {error}",
        "warning",
        key=f"scheduler.missed_run:{name}",
        job=name,
        run_id=row["id"],
    )


def _on_busy(runner: JobRunner, event: JobSubmissionEvent) -> None:
    name = _job_name(event.job_id)
    runner.db.record(
        name, "skipped", "schedule", runner.owner, "the previous run was still in progress"
    )
