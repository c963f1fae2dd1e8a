"""Scheduler state shared by the scheduler, the CLI and the UI (SQLAlchemy Core, no APScheduler).

Four tables live in the scheduler database (`jobs_url(ws)`; created when missing), next to
APScheduler's own `apscheduler_jobs`:

- `job_runs`: one row per run (job, trigger, start, end, status, summary, error, progress).
  Status is `running`, then `ok`, `skipped` (nothing to do), `failed`, `interrupted` (the
  scheduler died or stopped during the run) or `missed` (a scheduled time that never ran).
- `job_commands`: pause / resume / run requests; the leading scheduler polls and applies them.
- `job_schedule`: the leader's view of every job (trigger, next run, paused), for readers.
- `scheduler_lock`: one lease row. The scheduler that holds an unexpired lease is the leader;
  it is taken and renewed by atomic conditional UPDATEs, so two schedulers never both act.

Modules: `tables` (schema, engines), `store` (`JobsDB`: runs, commands, schedule), `lease`
(the leader lock), `views` (rows and one-line texts for the CLI and the pages).
"""

from core.jobs.store import JobsDB
from core.jobs.tables import (
    ACTIONS,
    EVENT_TRIGGERS,
    STATUSES,
    URL_ENV,
    engine_for,
    jobs_url,
    new_owner,
)
from core.jobs.views import jobs_overview, run_text

__all__ = [
    "ACTIONS",
    "EVENT_TRIGGERS",
    "STATUSES",
    "URL_ENV",
    "JobsDB",
    "engine_for",
    "jobs_overview",
    "jobs_url",
    "new_owner",
    "run_text",
]
