"""`JobsDB`: run history, commands and the mirrored schedule on one database URL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.config.schedules import JOB_NAMES
from core.files import utc_now
from core.jobs.lease import LeaseMixin
from core.jobs.tables import (
    ACTIONS,
    COMMANDS,
    FINISHED,
    RUNS,
    SCHEDULE,
    _dump,
    _iso,
    _load,
    _run_row,
    _utc,
    engine_for,
    jobs_url,
    metadata,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.workspace import Workspace

_CREATE_ATTEMPTS = 5
"""Tries at creating the tables when other processes create them at the same moment."""


class JobsDB(LeaseMixin):
    """The scheduler's tables on one database URL (thread-safe; one engine per URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)
        self._ready = False

    @classmethod
    def for_workspace(cls, ws: Workspace) -> JobsDB:
        return cls(jobs_url(ws))

    def __repr__(self) -> str:
        return f"JobsDB({self.engine.url.render_as_string(hide_password=True)})"

    def exists(self) -> bool:
        """False for a SQLite file that was never created (readers then show nothing)."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return True
        return Path(url.database).is_file()

    def ensure(self) -> JobsDB:
        """Create the tables when missing (idempotent, once per object).

        Several processes may open a fresh database at once (two schedulers, the CLI, the UI):
        the one that loses the race between "does the table exist" and `CREATE TABLE` gets
        "already exists", so a failed attempt is re-checked; tables the others created are
        then skipped.
        """
        if self._ready:
            return self
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                break
            except sa.exc.DBAPIError:
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        self._ready = True
        return self

    def _readable(self) -> bool:
        if not self.exists():
            return False
        self.ensure()
        return True

    # ----------------------------------------------------------------------------- runs
    def start_run(
        self,
        job: str,
        trigger: str,
        owner: str,
        attempt: int = 0,
        command_id: int | None = None,
    ) -> int:
        """Insert a `running` row; returns its id."""
        self.ensure()
        with self.engine.begin() as conn:
            result = conn.execute(
                RUNS.insert().values(
                    job=job,
                    trigger=trigger,
                    status="running",
                    started_at=utc_now(),
                    attempt=attempt,
                    owner=owner,
                    command_id=command_id,
                    progress=0.0,
                    sla_alerted=False,
                )
            )
            return int(result.inserted_primary_key[0])

    def progress(self, run_id: int, fraction: float, message: str) -> None:
        """Record a running job's progress (0-1) and what it is doing."""
        with self.engine.begin() as conn:
            conn.execute(
                RUNS.update()
                .where(RUNS.c.id == run_id, RUNS.c.status == "running")
                .values(progress=max(0.0, min(1.0, float(fraction))), message=message[:500])
            )

    def finish_run(
        self, run_id: int, status: str, summary: dict | None = None, error: str | None = None
    ) -> dict:
        """Close a run with its status, summary and error; returns the row."""
        if status not in FINISHED:
            raise ValueError(f"unknown final status {status!r}")
        with self.engine.begin() as conn:
            started = conn.execute(
                sa.select(RUNS.c.started_at).where(RUNS.c.id == run_id)
            ).scalar_one()
            now = utc_now()
            values = {
                "status": status,
                "finished_at": now,
                "duration_s": round((now - _utc(started)).total_seconds(), 3),
                "summary": _dump(summary or {}),
                "error": error,
            }
            if status == "ok":
                values["progress"] = 1.0
            conn.execute(RUNS.update().where(RUNS.c.id == run_id).values(**values))
        return self.run(run_id)

    def record(
        self,
        job: str,
        status: str,
        trigger: str,
        owner: str | None,
        error: str | None = None,
        summary: dict | None = None,
        command_id: int | None = None,
    ) -> dict:
        """A run that did not execute (`missed`, or `skipped` because one was running)."""
        run_id = self.start_run(job, trigger, owner or "", command_id=command_id)
        return self.finish_run(run_id, status, summary, error)

    def run(self, run_id: int) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(RUNS).where(RUNS.c.id == run_id)).one()
        return _run_row(row)

    def runs(
        self,
        job: str | None = None,
        limit: int | None = 50,
        status: str | None = None,
        command_id: int | None = None,
    ) -> list[dict]:
        """Runs, newest first (filters optional)."""
        if not self._readable():
            return []
        query = sa.select(RUNS).order_by(RUNS.c.id.desc())
        if job:
            query = query.where(RUNS.c.job == job)
        if status:
            query = query.where(RUNS.c.status == status)
        if command_id is not None:
            query = query.where(RUNS.c.command_id == command_id)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_run_row(r) for r in conn.execute(query)]

    def last_runs(self) -> dict[str, dict]:
        """The newest run of each job."""
        if not self._readable():
            return {}
        newest = sa.select(sa.func.max(RUNS.c.id)).group_by(RUNS.c.job).scalar_subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(RUNS).where(RUNS.c.id.in_(newest)))
            return {r.job: _run_row(r) for r in rows}

    def interrupt_orphans(self, owner: str, reason: str) -> list[dict]:
        """Mark `running` rows not owned by `owner` as interrupted (their scheduler died)."""
        self.ensure()
        with self.engine.connect() as conn:
            ids = conn.execute(
                sa.select(RUNS.c.id).where(RUNS.c.status == "running", RUNS.c.owner != owner)
            ).scalars()
            ids = list(ids)
        return [self.finish_run(i, "interrupted", error=reason) for i in ids]

    def interrupt_own(self, owner: str, reason: str) -> list[dict]:
        """Mark this scheduler's own `running` rows as interrupted (it is stopping)."""
        with self.engine.connect() as conn:
            ids = list(
                conn.execute(
                    sa.select(RUNS.c.id).where(RUNS.c.status == "running", RUNS.c.owner == owner)
                ).scalars()
            )
        return [self.finish_run(i, "interrupted", error=reason) for i in ids]

    def mark_sla_alerted(self, run_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(RUNS.update().where(RUNS.c.id == run_id).values(sla_alerted=True))

    # ----------------------------------------------------------------------------- commands
    def enqueue(self, job: str, action: str, params: dict | None = None, by: str = "") -> int:
        """Queue a command for the leading scheduler; returns its id.

        Raises:
            ValueError: unknown job or action.
        """
        if job not in JOB_NAMES:
            raise ValueError(f"unknown job {job!r} (one of {', '.join(JOB_NAMES)})")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        self.ensure()
        with self.engine.begin() as conn:
            result = conn.execute(
                COMMANDS.insert().values(
                    job=job,
                    action=action,
                    params=_dump(params or {}),
                    created_at=utc_now(),
                    created_by=by,
                )
            )
            return int(result.inserted_primary_key[0])

    def take_commands(self, owner: str) -> list[dict]:
        """Claim every pending command for `owner` (oldest first)."""
        self.ensure()
        with self.engine.begin() as conn:
            conn.execute(
                COMMANDS.update()
                .where(COMMANDS.c.taken_at.is_(None))
                .values(taken_at=utc_now(), taken_by=owner)
            )
            rows = conn.execute(
                sa.select(COMMANDS)
                .where(COMMANDS.c.taken_by == owner, COMMANDS.c.result.is_(None))
                .order_by(COMMANDS.c.id)
            ).all()
        return [dict(r._mapping) | {"params": _load(r.params) or {}} for r in rows]

    def complete_command(self, command_id: int, result: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(COMMANDS.update().where(COMMANDS.c.id == command_id).values(result=result))

    def command(self, command_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(COMMANDS).where(COMMANDS.c.id == command_id)).first()
        if row is None:
            return None
        out = dict(row._mapping)
        for key in ("created_at", "taken_at"):
            out[key] = _iso(out[key])
        return out

    def pending_commands(self) -> int:
        if not self._readable():
            return 0
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(COMMANDS.c.taken_at.is_(None))
            ).scalar_one()

    # ----------------------------------------------------------------------------- schedule
    def save_schedule(self, rows: list[dict], owner: str) -> None:
        """Replace the mirrored view of every job (one transaction)."""
        now = utc_now()
        with self.engine.begin() as conn:
            conn.execute(SCHEDULE.delete())
            if rows:
                conn.execute(
                    SCHEDULE.insert(),
                    [
                        {
                            **r,
                            "next_run_at": _utc(r.get("next_run_at")),
                            "updated_at": now,
                            "owner": owner,
                        }
                        for r in rows
                    ],
                )

    def schedule(self) -> dict[str, dict]:
        """The mirrored view by job name (empty before a scheduler ever ran)."""
        if not self._readable():
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(SCHEDULE)).all()
        out = {}
        for r in rows:
            item = dict(r._mapping)
            item["next_run_at"] = _iso(item["next_run_at"])
            item["updated_at"] = _iso(item["updated_at"])
            out[r.job] = item
        return out

    def stored_next_runs(self) -> dict[str, float | None]:
        """APScheduler's persisted next run time (UTC epoch, None = paused) per job id."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("apscheduler_jobs"):
                return {}
            rows = conn.execute(sa.text("SELECT id, next_run_time FROM apscheduler_jobs"))
            return {r[0]: r[1] for r in rows}

    def prune_store(self, keep: list[str]) -> None:
        """Drop persisted APScheduler jobs that are no longer declared (e.g. disabled ones).

        Pending retries (`<job>:retry:<id>`, one-off runs) are kept: they run after a restart.
        """
        with self.engine.begin() as conn:
            if not sa.inspect(conn).has_table("apscheduler_jobs"):
                return
            table = sa.table("apscheduler_jobs", sa.column("id"))
            conn.execute(
                table.delete().where(table.c.id.not_in(keep), ~table.c.id.contains(":retry:"))
            )
