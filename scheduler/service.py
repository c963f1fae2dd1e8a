"""`workbench scheduler`: one leader runs the jobs, any other instance waits as a standby.

Every `poll_seconds` the process either tries to take the leader lease (standby) or, as the
leader, renews it, applies queued commands (pause / resume / run now from the CLI and the UI),
mirrors the schedule for readers and alerts on runs past their SLA. On becoming the leader it
first marks runs left `running` by a dead scheduler (a `kill -9`) as `interrupted`. On stop it
lets running jobs finish for `stop_grace_seconds`, records the rest as interrupted and releases
the lease so a standby takes over at once.
"""

from __future__ import annotations

import logging
import threading

from apscheduler.jobstores.base import JobLookupError

from core.config.schedules import JOB_NAMES
from core.errors import one_line
from core.jobs import JobsDB, new_owner
from scheduler.app import build_scheduler, signature
from scheduler.runner import RUNNERS, JobRunner
from scheduler.settings import SchedulerSettings

log = logging.getLogger("workbench.scheduler")


class SchedulerService:
    """The scheduler process of one workspace (leader or standby)."""

    def __init__(self, settings: SchedulerSettings, owner: str | None = None) -> None:
        self.settings = settings
        self.owner = owner or new_owner()
        self.db = JobsDB(settings.url).ensure()
        self.runner = JobRunner(settings, self.db, self.owner)
        self.scheduler = None
        self.state = "starting"
        """`starting`, `standby`, `leader` or `stopped`."""
        self._stop = threading.Event()
        self._mirrored: list[dict] | None = None
        self._holder_seen: str | None = None
        self._paused: dict[str, bool] = {}

    # ----------------------------------------------------------------------------- lifecycle
    def serve(self) -> None:
        """Run until `stop()`: standby until the lease is ours, then lead."""
        cfg = self.settings.schedules
        try:
            while not self._stop.is_set():
                try:
                    self._tick()
                except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
                    log.exception("scheduler tick failed; retrying")
                self._stop.wait(cfg.poll_seconds)
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Ask `serve` to return (safe from a signal handler or another thread)."""
        self._stop.set()

    @property
    def is_leader(self) -> bool:
        return self.state == "leader"

    def _tick(self) -> None:
        ttl = self.settings.schedules.lock_ttl_seconds
        if not self.is_leader:
            if self.db.acquire(self.owner, ttl):
                self._lead()
            else:
                self._wait_as_standby()
            return
        if not self.db.renew(self.owner, ttl):
            log.error("scheduler %s lost the lease; stepping down to standby", self.owner)
            self._step_down()
            return
        self._apply_commands()
        self._mirror()
        self.runner.watch_slas()

    def _wait_as_standby(self) -> None:
        holder = self.db.holder() or {}
        if self.state != "standby" or holder.get("owner") != self._holder_seen:
            log.info(
                "standby: scheduler %s holds the lock (until %s); waiting to take over",
                holder.get("owner"),
                holder.get("expires_at"),
            )
        self.state, self._holder_seen = "standby", holder.get("owner")

    def _lead(self) -> None:
        log.info("scheduler %s is the leader for %s", self.owner, self.settings.root)
        for row in self.db.interrupt_orphans(
            self.owner, f"the scheduler running it stopped during the run (found by {self.owner})"
        ):
            self.runner.alert(
                "scheduler.run_interrupted",
                f"job {row['job']} (run {row['id']}) was interrupted: its scheduler "
                f"({row['owner']}) stopped during the run",
                "warning",
                key=f"scheduler.run_interrupted:{row['job']}",
                job=row["job"],
                run_id=row["id"],
            )
        self._paused = {n: bool(r.get("paused")) for n, r in self.db.schedule().items()}
        RUNNERS[self.settings.key] = self.runner
        self.scheduler = build_scheduler(self.settings, self.runner)
        self.runner.scheduler = self.scheduler
        self.scheduler.start()
        self.state = "leader"
        self._mirrored = None
        self._apply_commands()
        self._mirror()

    def _step_down(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.scheduler = self.runner.scheduler = None
        self.state = "standby"

    def _shutdown(self) -> None:
        was_leader = self.is_leader
        self._step_down()
        if was_leader:
            grace = self.settings.schedules.stop_grace_seconds
            if not self.runner.wait_idle(grace):
                for row in self.db.interrupt_own(
                    self.owner, f"the scheduler stopped during the run (waited {grace:g} s)"
                ):
                    log.warning("run %s of %s interrupted by the stop", row["id"], row["job"])
            self.db.release(self.owner)
        if RUNNERS.get(self.settings.key) is self.runner:
            RUNNERS.pop(self.settings.key, None)
        self.state = "stopped"

    # ----------------------------------------------------------------------------- commands
    def _apply_commands(self) -> None:
        for cmd in self.db.take_commands(self.owner):
            try:
                result = self._apply(cmd)
            except Exception as exc:  # noqa: BLE001 - a bad command is answered, not fatal
                result = f"error: {one_line(exc)}"
            log.info("command %s %s: %s", cmd["action"], cmd["job"], result)
            self.db.complete_command(cmd["id"], result)

    def _apply(self, cmd: dict) -> str:
        name, action = cmd["job"], cmd["action"]
        if name not in JOB_NAMES:
            return f"error: unknown job {name!r}"
        if action == "run":
            # a run with a reason is "Retrain now" (`core.lifecycle.request_retrain_now`)
            trigger = "retrain_request" if cmd["params"].get("reason") else "manual"
            self.runner.submit(name, trigger, params=cmd["params"], command_id=cmd["id"])
            return "started"
        paused = action == "pause"
        try:
            if paused:
                self.scheduler.pause_job(name, jobstore="default")
            else:
                self.scheduler.resume_job(name, jobstore="default")
        except JobLookupError:
            pass  # an on-demand or disabled job: only the flag (follow-ups honour it)
        self._set_paused(name, paused)
        return "paused" if paused else "resumed"

    # ----------------------------------------------------------------------------- mirror
    def _set_paused(self, name: str, paused: bool) -> None:
        self._paused[name] = paused  # the mirror is where readers and restarts find it
        self._mirror()

    def _rows(self) -> list[dict]:
        cfg = self.settings.schedules
        rows = []
        for name in JOB_NAMES:
            spec = cfg.job(name)
            job = self.scheduler.get_job(name, jobstore="default") if self.scheduler else None
            rows.append(
                {
                    "job": name,
                    "trigger": spec.describe(cfg.timezone),
                    "signature": signature(spec, cfg.timezone),
                    "enabled": spec.enabled,
                    "paused": self._paused.get(name, False),
                    "next_run_at": job.next_run_time if job is not None else None,
                    "sla_minutes": spec.sla_minutes,
                }
            )
        return rows

    def _mirror(self) -> None:
        self._write(self._rows())

    def _write(self, rows: list[dict]) -> None:
        if rows != self._mirrored:
            self.db.save_schedule(rows, self.owner)
            self._mirrored = rows
