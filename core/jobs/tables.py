"""The scheduler database: tables, one engine per URL, and small conversions."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.workspace import Workspace

URL_ENV = "WORKBENCH_SCHEDULER_URL"
STATUSES = ("running", "ok", "skipped", "failed", "interrupted", "missed")
FINISHED = frozenset(STATUSES) - {"running"}
ACTIONS = ("pause", "resume", "run")
LOCK_NAME = "scheduler"
EVENT_TRIGGERS = {
    "deploy": "after each promotion",
    "training_pipeline": "on retrain requests",
}
"""Events that start a job besides its schedule (wired in `scheduler.app.FOLLOW_UPS`)."""

metadata = sa.MetaData()
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Stamp = sa.DateTime(timezone=True)

RUNS = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False, index=True),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("started_at", _Stamp, nullable=False),
    sa.Column("finished_at", _Stamp),
    sa.Column("duration_s", sa.Float),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("owner", sa.String(200)),
    sa.Column("command_id", sa.Integer),
    sa.Column("progress", sa.Float),
    sa.Column("message", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("sla_alerted", sa.Boolean, nullable=False, default=False),
)
COMMANDS = sa.Table(
    "job_commands",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("params", sa.Text),
    sa.Column("created_at", _Stamp, nullable=False),
    sa.Column("created_by", sa.String(200)),
    sa.Column("taken_at", _Stamp, index=True),
    sa.Column("taken_by", sa.String(200)),
    sa.Column("result", sa.Text),
)
SCHEDULE = sa.Table(
    "job_schedule",
    metadata,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("trigger", sa.String(200)),
    sa.Column("signature", sa.String(200)),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("next_run_at", _Stamp),
    sa.Column("sla_minutes", sa.Float),
    sa.Column("updated_at", _Stamp),
    sa.Column("owner", sa.String(200)),
)
LOCK = sa.Table(
    "scheduler_lock",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive datetimes; they were written as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return value.isoformat(timespec="seconds") if value else None


def new_owner() -> str:
    """A scheduler instance id: `host:pid:random`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def jobs_url(ws: Workspace) -> str:
    """`WORKBENCH_SCHEDULER_URL`, else `schedules.store_url`, else SQLite in `.workbench/`."""
    return (
        os.environ.get(URL_ENV)
        or ws.config.schedules.store_url
        or f"sqlite:///{ws.state / 'scheduler.db'}"
    )


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> sa.Engine:
    """One engine per URL and process; SQLite gets WAL and a busy timeout (several processes)."""
    with _engines_lock:
        if url in _engines:
            return _engines[url]
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                parsed, connect_args={"timeout": 30, "check_same_thread": False}
            )
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        _engines[url] = engine
        return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _load(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run_row(row) -> dict:
    out = dict(row._mapping)
    for key in ("started_at", "finished_at"):
        out[key] = _iso(out[key])
    out["summary"] = _load(out["summary"]) or {}
    return out
