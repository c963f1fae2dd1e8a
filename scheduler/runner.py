"""Run one job and record it: history row, live progress, retries with backoff, SLA, alerts.

`run_job(root, name, ...)` is the function APScheduler stores (a module-level reference and
plain arguments, so the SQLAlchemy job store can persist it); it finds the `JobRunner` of that
workspace in `RUNNERS`. A job never overlaps itself (a second start while one runs is recorded
as `skipped`), and a failing job never raises into the scheduler: it is recorded, alerted once
its retries are used up, and the other jobs go on.

A scheduled training that starts while a data run is in progress (or waits for its retry) does
not train on the old version: it is recorded as `skipped` ("waits for the data run") and the
scheduler's listener starts it with trigger `after_data` once that data run has ended.

Each run that ends `ok` or `failed` is also an audit event (`core.audit`, source `scheduler`):
actor `scheduler`, or who asked for it (a queued command's or a retrain request's `by`). A
`skipped` run changed nothing and is not recorded; the commands themselves (run now, pause,
resume) are recorded by the UI or CLI that queued them, not again when applied.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core import access
from core.alerts import raise_alert, resolve_alert
from core.audit import EXPORT_LABELS, FAILED, OK, record_event
from core.config.schedules import JOB_NAMES
from core.errors import one_line
from core.jobs import JobsDB
from core.workspace import Workspace
from scheduler.settings import SchedulerSettings
from scheduler.tasks import JOBS, JobContext

if TYPE_CHECKING:  # pragma: no cover - typing only
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger("workbench.scheduler")

RUNNERS: dict[str, JobRunner] = {}
"""Runner per workspace path, for the jobs APScheduler starts."""
PROGRESS_EVERY = 1.0
"""Seconds between two progress writes of a running job."""
AUDIT_ACTIONS = {
    "data_pipeline": access.RUN_PIPELINE,
    "training_pipeline": access.TRAIN,
    "drift_check": access.RUN_DRIFT_CHECK,
    "deploy": access.DEPLOY_ROLLOUT,
    "feedback_export": EXPORT_LABELS,
    "prediction_log_compaction": access.RUN_JOB,  # deletes days: audited like any run
}
"""Job → the audit action of its runs (`core.access` names, as the roles table has them)."""
SCHEDULER_ACTOR = "scheduler"


def run_job(root: str, name: str, **kwargs) -> dict:
    """Entry point of every scheduled job: run `name` with the runner of workspace `root`."""
    runner = RUNNERS.get(root)
    if runner is None:
        raise RuntimeError(f"no scheduler runs jobs for {root} in this process")
    return runner.run(name, **kwargs)


class _Progress:
    """A job's progress callback: writes at most once per `PROGRESS_EVERY` seconds."""

    def __init__(self, db: JobsDB, run_id: int) -> None:
        self.db, self.run_id, self.last = db, run_id, 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY and fraction < 1.0:
            return
        self.last = now
        try:
            self.db.progress(self.run_id, fraction, message)
        except Exception as exc:  # noqa: BLE001 - progress is best effort, never fails a job
            log.debug("progress not recorded: %s", exc)


class JobRunner:
    """Runs jobs of one workspace and records each run in the scheduler database."""

    def __init__(self, settings: SchedulerSettings, db: JobsDB, owner: str) -> None:
        self.settings, self.db, self.owner = settings, db, owner
        self.scheduler: BaseScheduler | None = None
        """Set by the service: retries and follow-up runs are scheduled on it."""
        self._locks = {name: threading.Lock() for name in JOB_NAMES}
        self._active: set[int] = set()
        self._idle = threading.Condition()
        self._chain = threading.Lock()
        """Guards the data job's lock release and the training's deferral (one or the other)."""
        self._data_retrying = False
        self._deferred: dict | None = None
        """The parameters of a scheduled training waiting for the data run to end."""

    # ----------------------------------------------------------------------------- running
    def run(
        self,
        name: str,
        trigger: str = "schedule",
        attempt: int = 0,
        params: dict | None = None,
        command_id: int | None = None,
    ) -> dict:
        """Run a job now in this thread and return its history row (never raises).

        A run that ends `ok` or `failed` is recorded in the audit log too (`_audit`).
        """
        params = dict(params or {})
        if command_id is not None and not params.get("by"):
            # who queued it: the run, its retries and its audit events act for them
            by = (self.db.command(command_id) or {}).get("created_by")
            params.update({"by": by} if by else {})
        row = self._run(name, trigger, attempt, params, command_id)
        if row["status"] in (OK, FAILED):
            self._audit(row, params, command_id)
        return row

    def _run(
        self, name: str, trigger: str, attempt: int, params: dict | None, command_id: int | None
    ) -> dict:
        deferred = self._defer_training(name, trigger, params, command_id)
        if deferred is not None:
            return deferred
        lock = self._locks[name]
        if not lock.acquire(blocking=False):
            log.warning("%s not started (%s): a run is still in progress", name, trigger)
            return self.db.record(
                name,
                "skipped",
                trigger,
                self.owner,
                "a run of this job is still in progress",
                command_id=command_id,
            )
        if name == "data_pipeline":
            self._data_retrying = False
        try:
            return self._execute(name, trigger, attempt, params or {}, command_id)
        finally:
            with self._chain:
                lock.release()

    def _audit(self, row: dict, params: dict, command_id: int | None) -> None:
        """Record a finished run as an audit event; never raises (the run is recorded anyway)."""
        try:
            record_event(
                Workspace(self.settings.root),
                params.get("by") or SCHEDULER_ACTOR,
                AUDIT_ACTIONS[row["job"]],
                row["job"],
                row["status"],
                row["error"] or params.get("reason") or "",
                "scheduler",
                {"run_id": row["id"], "trigger": row["trigger"], "attempt": row["attempt"]}
                | ({"command": command_id} if command_id is not None else {}),
            )
        except Exception as exc:  # noqa: BLE001 - the audit must not fail a recorded run
            log.error("run %s of %s not audited: %s", row.get("id"), row.get("job"), exc)

    def _defer_training(
        self, name: str, trigger: str, params: dict | None, command_id: int | None
    ) -> dict | None:
        """Put off a scheduled training while a data run is in progress; its skipped row."""
        if name != "training_pipeline" or trigger != "schedule":
            return None
        with self._chain:
            if not (self._locks["data_pipeline"].locked() or self._data_retrying):
                return None
            self._deferred = dict(params or {})
        log.info("%s waits for the data run in progress", name)
        return self.db.record(
            name,
            "skipped",
            trigger,
            self.owner,
            "a data_pipeline run is in progress: this training starts when it ends "
            "(trigger after_data)",
            command_id=command_id,
        )

    def take_deferred_training(self) -> dict | None:
        """The parameters of a training put off by a data run (once), None when there is none."""
        with self._chain:
            deferred, self._deferred = self._deferred, None
        return deferred

    def _execute(
        self, name: str, trigger: str, attempt: int, params: dict, command_id: int | None
    ) -> dict:
        run_id = self.db.start_run(name, trigger, self.owner, attempt, command_id)
        with self._idle:
            self._active.add(run_id)
        log.info("%s started (run %d, %s, attempt %d)", name, run_id, trigger, attempt)
        try:
            ctx = JobContext(
                Workspace.open(self.settings.root),
                trigger,
                dict(params),
                _Progress(self.db, run_id),
            )
            summary = dict(JOBS[name](ctx))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded; the scheduler goes on
            log.exception("%s failed (run %d)", name, run_id)
            return self._failed(name, run_id, trigger, attempt, params, one_line(exc))
        finally:
            with self._idle:
                self._active.discard(run_id)
                self._idle.notify_all()
        status = summary.pop("status", "ok")
        row = self.db.finish_run(run_id, status if status in ("ok", "skipped") else "ok", summary)
        log.info("%s %s in %.1f s (run %d)", name, row["status"], row["duration_s"], run_id)
        self._sla_at_finish(row)
        self.resolve(f"scheduler.job_failed:{name}", f"job {name} succeeded (run {run_id})")
        return row

    def _failed(
        self, name: str, run_id: int, trigger: str, attempt: int, params: dict, error: str
    ) -> dict:
        spec = self.settings.schedules.job(name)
        delay = None
        if attempt < spec.retries and self.scheduler is not None:
            # at least 0.5 s: the retry must start after this run has released the job's lock
            delay = max(spec.backoff_seconds * (2**attempt), 0.5)
        if delay is not None:
            try:
                self.submit(name, "retry", delay=delay, attempt=attempt + 1, params=params)
            except Exception as exc:  # noqa: BLE001 - e.g. the scheduler is stopping: no retry
                log.warning("no retry of %s: %s", name, exc)
                delay = None
        if name == "data_pipeline":
            self._data_retrying = delay is not None  # a training waits for the retry too
        summary = (
            {} if delay is None else {"retry_in_s": delay, "retries_left": spec.retries - attempt}
        )
        row = self.db.finish_run(run_id, "failed", summary, error)
        if delay is None:
            tries = f" after {attempt + 1} attempts" if attempt else ""
            self.alert(
                "scheduler.job_failed",
                f"job {name} failed{tries}: {error}",
                "error",
                key=f"scheduler.job_failed:{name}",
                job=name,
                run_id=run_id,
            )
        self._sla_at_finish(row)
        return row

    def submit(
        self,
        name: str,
        trigger: str,
        delay: float = 0.0,
        attempt: int = 0,
        params: dict | None = None,
        command_id: int | None = None,
    ) -> None:
        """Schedule a one-off run (run now, retry, follow-up) on the running scheduler."""
        if self.scheduler is None:
            raise RuntimeError("no scheduler is running in this process")
        self.scheduler.add_job(
            run_job,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=delay),
            args=[self.settings.key, name],
            kwargs={
                "trigger": trigger,
                "attempt": attempt,
                "params": params or {},
                "command_id": command_id,
            },
            id=f"{name}:{trigger}:{uuid.uuid4().hex[:8]}",
            name=f"{name} ({trigger})",
            # a retry waits out its backoff in the job store, so a restart or the standby
            # taking over still runs it; run-now and follow-ups start at once
            jobstore="default" if trigger == "retry" else "volatile",
            misfire_grace_time=None,  # a one-off runs however late its thread starts
        )

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job of this runner is running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # ----------------------------------------------------------------------------- alerts, SLA
    def alert(self, kind: str, message: str, severity: str = "warning", **details) -> None:
        """Raise an alert through the monitoring sinks; never raises."""
        try:
            raise_alert(Workspace(self.settings.root), kind, message, severity, **details)
        except Exception as exc:  # noqa: BLE001 - an alert failure must not stop the scheduler
            log.error("alert %s not delivered: %s (%s)", kind, message, exc)

    def resolve(self, key: str, message: str) -> None:
        """Resolve the open incident of an alert condition, if any; never raises."""
        try:
            resolve_alert(Workspace(self.settings.root), key, message)
        except Exception as exc:  # noqa: BLE001 - an alert failure must not stop the scheduler
            log.error("incident %s not resolved: %s (%s)", key, message, exc)

    def _sla_seconds(self, name: str) -> float | None:
        sla = self.settings.schedules.job(name).sla_minutes
        return None if sla is None else sla * 60

    def _sla_alert(self, row: dict, elapsed: float) -> None:
        sla = self._sla_seconds(row["job"])
        self.db.mark_sla_alerted(row["id"])
        state = "still running" if row["status"] == "running" else f"finished {row['status']}"
        self.alert(
            "scheduler.sla_exceeded",
            f"job {row['job']} (run {row['id']}) took {elapsed:.1f} s, past its SLA of "
            f"{sla:g} s ({state})",
            "warning",
            key=f"scheduler.sla_exceeded:{row['job']}",
            job=row["job"],
            run_id=row["id"],
        )

    def _sla_at_finish(self, row: dict) -> None:
        sla = self._sla_seconds(row["job"])
        if sla is not None and not row.get("sla_alerted") and (row["duration_s"] or 0) > sla:
            self._sla_alert(row, row["duration_s"])
        elif sla is not None and (row["duration_s"] or 0) <= sla:
            self.resolve(
                f"scheduler.sla_exceeded:{row['job']}",
                f"job {row['job']} (run {row['id']}) finished within its SLA",
            )

    def watch_slas(self) -> None:
        """Alert once for each of this scheduler's running runs that is past its SLA."""
        now = datetime.now(UTC)
        for row in self.db.runs(status="running", limit=None):
            sla = self._sla_seconds(row["job"])
            if row["owner"] != self.owner or row["sla_alerted"] or sla is None:
                continue
            elapsed = (now - datetime.fromisoformat(row["started_at"])).total_seconds()
            if elapsed > sla:
                self._sla_alert(row, elapsed)
