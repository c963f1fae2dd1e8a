"""Typed `schedules:` section of `workbench.yaml`: when each job runs, its SLA and retries.

Imported by `core.config` (keep it free of heavy imports; APScheduler is only imported by the
`scheduler` package, which turns these settings into triggers). Every key has a default, so an
empty or absent section gives the standard day: labelled predictions exported at 01:30 (when
`sources.feedback` is on), data at 02:00, training at 04:00 and after every data run that made a
new version, a drift check every hour, and the deployment step after each promotion.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from core.config.strict import Strict

JOB_NAMES = (
    "data_pipeline",
    "training_pipeline",
    "drift_check",
    "deploy",
    "feedback_export",
    "prediction_log_compaction",
)
"""Every job the scheduler knows, in the order they are listed."""

_CRON_FIELD = re.compile(r"^[\w*/,\-?#LW]+$")


class JobSchedule(Strict):
    """When one job runs and what is expected of it."""

    cron: str | None = None
    """Crontab expression (5 fields: minute hour day month weekday) in `schedules.timezone`."""
    interval_seconds: float | None = Field(None, gt=0)
    """Run every N seconds instead of on a cron expression (short loops, tests)."""
    enabled: bool = True
    """A disabled job is not scheduled (it can still be run now from the CLI or the UI)."""
    sla_minutes: float | None = Field(None, gt=0)
    """Expected upper bound of a run; a run past it raises an alert."""
    retries: int = Field(0, ge=0, le=10)
    """Further attempts after a failed run."""
    backoff_seconds: float = Field(60.0, ge=0)
    """Wait before the first retry (at least 0.5 s); doubled for each further one."""

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"cron {value!r} is not a 5-field crontab expression "
                "(minute hour day month weekday, e.g. '0 2 * * *')"
            )
        return " ".join(fields)

    @model_validator(mode="after")
    def _one_trigger(self) -> JobSchedule:
        if self.cron and self.interval_seconds:
            raise ValueError("give either cron or interval_seconds, not both")
        return self

    def describe(self, timezone: str) -> str:
        """For humans: `cron 0 2 * * * (UTC)`, `every 30 s` or `on demand`."""
        if self.interval_seconds:
            return f"every {self.interval_seconds:g} s"
        if self.cron:
            return f"cron {self.cron} ({timezone})"
        return "on demand"


JOB_DEFAULTS: dict[str, dict[str, Any]] = {
    "data_pipeline": {"cron": "0 2 * * *", "sla_minutes": 30, "retries": 2, "backoff_seconds": 60},
    "training_pipeline": {
        "cron": "0 4 * * *",
        "sla_minutes": 120,
        "retries": 1,
        "backoff_seconds": 300,
    },
    "drift_check": {"cron": "0 * * * *", "sla_minutes": 10, "retries": 1, "backoff_seconds": 60},
    "deploy": {"cron": None, "sla_minutes": 5, "retries": 2, "backoff_seconds": 10},
    "feedback_export": {"cron": "30 1 * * *", "sla_minutes": 10, "retries": 1},
    "prediction_log_compaction": {"cron": "15 0 * * *", "sla_minutes": 30, "retries": 1},
}
"""Per-job defaults; a job's keys in the config override them one by one."""

SIMULATION_OVERRIDES: dict[str, Any] = {
    "training": {
        "budget": {"trials": 1, "seconds": 20},
        "cv_folds": 2,
        "candidates": ["logistic_regression", "lightgbm"],
        "auto_promote": True,
    },
}

BASELINE_OVERRIDES: dict[str, Any] = {
    "monitoring": {
        "alert_on": ["dataset_drift", "performance"],
        "alert_after_checks": 1,
        "retrain": {
            "triggers": ["dataset_drift", "performance"],
            "consecutive_checks": 1,
            "performance_checks": 1,
            "min_weighted_share": 0,
            "on_new_data": False,
            "max_versions_behind": None,
        },
    },
    "alerts": {"remind_after_minutes": 0},
}
"""The policy `simulate --compare` runs against: every drift or performance alert notifies and
retrains at once; new data alone does not."""


class SimulationConfig(Strict):
    """`workbench simulate`: how the fast-forwarded days run."""

    overrides: dict[str, Any] = SIMULATION_OVERRIDES
    """Merged into the simulated workspace's config (quick training budgets, auto-promotion: a
    simulated day lasts seconds). Monitoring, retraining and alerts keep the workspace's policy;
    incidents follow the simulated clock (one check a day, at 03:00)."""
    baseline: dict[str, Any] = BASELINE_OVERRIDES
    """`--compare`: merged into a copy of the simulated workspace (after its first training) to
    run the same days under "retrain on every drift alert"."""
    concurrency: int = Field(4, ge=1, le=64)
    """Concurrent requests of the simulated traffic (one flight per /predict request, so each
    prediction gets its own request id and, a day later, its own label). More is slower on a
    small machine: client and API share its cores."""


class SchedulesConfig(Strict):
    """The `schedules:` section."""

    timezone: str = "UTC"
    """Timezone of the cron expressions (IANA name, e.g. Europe/Paris)."""
    store_url: str | None = None
    """SQLAlchemy URL of the scheduler database (job store, run history, lock, commands);
    default `sqlite:///<workspace>/.workbench/scheduler.db`. `WORKBENCH_SCHEDULER_URL` wins."""
    misfire_grace_seconds: float = Field(3600, gt=0)
    """A run that could not start within this long of its time is recorded as missed."""
    lock_ttl_seconds: float = Field(15, ge=2)
    """The leader's lease; a standby takes over this long after the leader stops renewing."""
    poll_seconds: float = Field(2, gt=0, le=60)
    """How often the leader renews its lease, applies commands and checks SLAs (and how
    often a standby retries)."""
    stop_grace_seconds: float = Field(30, ge=0)
    """On SIGTERM, how long running jobs may finish before they are recorded as interrupted."""
    data_pipeline: JobSchedule = JobSchedule(**JOB_DEFAULTS["data_pipeline"])
    training_pipeline: JobSchedule = JobSchedule(**JOB_DEFAULTS["training_pipeline"])
    """Trains only when a data version is newer than the champion's (or forced / requested).
    Also runs after each data run that made a new version; a scheduled run that finds a data
    run in progress waits for it to end."""
    drift_check: JobSchedule = JobSchedule(**JOB_DEFAULTS["drift_check"])
    deploy: JobSchedule = JobSchedule(**JOB_DEFAULTS["deploy"])
    """Reloads the API; runs after every promotion (a cron adds periodic runs)."""
    feedback_export: JobSchedule = JobSchedule(**JOB_DEFAULTS["feedback_export"])
    """Exports labelled predictions to the landing folder (a no-op unless
    `sources.feedback.enabled`), before the 02:00 data run."""
    prediction_log_compaction: JobSchedule = JobSchedule(
        **JOB_DEFAULTS["prediction_log_compaction"]
    )
    """Merges each closed day's Parquet parts of the prediction log into one and deletes the
    days older than `serving.prediction_log_keep_days` (00:15, once yesterday has closed)."""
    simulation: SimulationConfig = SimulationConfig()

    @model_validator(mode="before")
    @classmethod
    def _job_defaults(cls, data: Any) -> Any:
        """A job's keys override its own defaults one by one (not the generic ones)."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, defaults in JOB_DEFAULTS.items():
            given = out.get(name)
            if isinstance(given, dict):
                if given.get("interval_seconds") and "cron" not in given:
                    defaults = {**defaults, "cron": None}  # an interval replaces the default cron
                out[name] = {**defaults, **given}
        return out

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name like UTC)") from None
        return value

    def job(self, name: str) -> JobSchedule:
        """The schedule of a job by name."""
        if name not in JOB_NAMES:
            raise KeyError(name)
        return getattr(self, name)
