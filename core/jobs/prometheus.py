"""The scheduler's job outcomes as Prometheus gauges (for the API's /metrics).

The scheduler has no HTTP endpoint of its own; its run history lives in the job store every
process can read, so the API exports it and Prometheus alerts on it
(`docker/prometheus/rules/workbench.yml`, `WorkbenchJobFailed`)::

    from core.jobs.prometheus import JobsCollector
    registry.register(JobsCollector(ws))

Per job, from the newest run that ended `ok` or `failed`:
`workbench_job_last_run_failed{job_name}` (1 failed, 0 ok) and
`workbench_job_last_run_timestamp_seconds{job_name}` (when it ended; the label is not
`job`, which Prometheus gives every scraped series). A store that cannot be read
exports nothing (the scrape never fails because of it); the miss is logged.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from core.errors import one_line
from core.jobs.store import JobsDB
from core.jobs.tables import RUNS, _utc
from core.workspace import Workspace

log = logging.getLogger("workbench.jobs")

OUTCOMES = ("ok", "failed")
"""Statuses that say whether a job works (skipped, interrupted and missed say neither)."""


def last_outcomes(db: JobsDB) -> dict[str, dict]:
    """Job → {"failed": bool, "time": unix seconds} of its newest run that ended ok or failed."""
    if not db.exists():
        return {}
    newest = (
        sa.select(sa.func.max(RUNS.c.id))
        .where(RUNS.c.status.in_(OUTCOMES))
        .group_by(RUNS.c.job)
        .scalar_subquery()
    )
    query = sa.select(RUNS.c.job, RUNS.c.status, RUNS.c.finished_at).where(RUNS.c.id.in_(newest))
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        job: {"failed": status == "failed", "time": finished and _utc(finished).timestamp()}
        for job, status, finished in rows
    }


class JobsCollector:
    """A `prometheus_client` collector exporting `last_outcomes` on every scrape."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def describe(self):
        """No fixed metric list: the gauges exist once a job has run."""
        return []

    def collect(self):
        """Yield the two gauge families (nothing when the store cannot be read)."""
        from prometheus_client.core import GaugeMetricFamily

        try:
            outcomes = last_outcomes(JobsDB.for_workspace(self.ws))
        except Exception as exc:  # a scrape must not fail because the job store is down
            log.warning("job outcomes not exported: %s", one_line(exc))
            return
        failed = GaugeMetricFamily(
            "workbench_job_last_run_failed",
            "1 when the job's newest run that ended ok or failed failed",
            labels=["job_name"],
        )
        ended = GaugeMetricFamily(
            "workbench_job_last_run_timestamp_seconds",
            "Unix time the job's newest ok or failed run ended",
            labels=["job_name"],
        )
        for job, outcome in sorted(outcomes.items()):
            failed.add_metric([job], float(outcome["failed"]))
            if outcome["time"]:
                ended.add_metric([job], outcome["time"])
        yield failed
        yield ended
