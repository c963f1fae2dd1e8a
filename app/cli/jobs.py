"""`workbench jobs ...`: list, run now, pause, resume and the run history.

`jobs` commands never import APScheduler: they read the run history and the mirrored schedule
from the scheduler database and queue commands that the running scheduler applies within
`schedules.poll_seconds` (or at its next start).
"""

from __future__ import annotations

import getpass
import time
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import (
    SCHEDULER_DB,
    JsonOpt,
    WorkspaceOpt,
    audit_cli,
    err,
    fail,
    fail_cleanly,
    open_workspace,
    out,
    pick,
    print_json,
    print_table,
)
from core import access
from core.config.schedules import JOB_NAMES
from core.errors import WorkbenchError
from core.jobs import run_text

jobs_app = typer.Typer(
    help="Scheduled jobs: list, run now, pause, resume, history.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help=f"Job name: {', '.join(JOB_NAMES)}.")]
LIST_KEYS = (
    "job",
    "schedule",
    "state",
    "next_run",
    "last_status",
    "last_started",
    "last_duration_s",
    "last_error",
    "progress",
    "sla_minutes",
)
HISTORY_KEYS = (
    "id",
    "job",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    "duration_s",
    "attempt",
    "summary",
    "error",
)
JOB_ACTIONS = {"run": access.RUN_JOB, "pause": access.PAUSE_JOB, "resume": access.RESUME_JOB}
"""A queued command → its `core.access` action (the scheduler does not record it again)."""
COLOURS = {
    "ok": "green",
    "running": "cyan",
    "skipped": "dim",
    "failed": "red",
    "interrupted": "yellow",
    "missed": "yellow",
}


def _db(workspace):
    from core.jobs import JobsDB

    ws = open_workspace(workspace)
    return ws, JobsDB.for_workspace(ws)


def _check_job(name: str) -> str:
    if name not in JOB_NAMES:
        raise WorkbenchError(f"unknown job {name!r}: one of {', '.join(JOB_NAMES)}")
    return name


def _actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ")


def _status(status: str | None) -> str:
    if not status:
        return ""
    colour = COLOURS.get(status, "white")
    return f"[{colour}]{status}[/{colour}]"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def scheduler_line(holder: dict | None) -> str:
    """Who leads, for `jobs` commands."""
    if holder and holder["live"]:
        return f"scheduler running: {holder['owner']} (lease until {_when(holder['expires_at'])})"
    return "no scheduler is running: queued commands apply when `workbench scheduler` starts"


@jobs_app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Jobs with their schedule, state, next run and last run."""
    from core.jobs import jobs_overview

    with fail_cleanly(SCHEDULER_DB):
        ws, db = _db(workspace)
        rows, holder = jobs_overview(db, ws), db.holder()
    if as_json:
        print_json([pick(r, LIST_KEYS) for r in rows])
        err.print(scheduler_line(holder), highlight=False)
        return
    table = Table("job", "schedule", "state", "next run (UTC)", "last run", "status", "took", "SLA")
    for r in rows:
        running = r["progress"] is not None
        status = _status(r["last_status"]) + (f" {r['progress']:.0%}" if running else "")
        table.add_row(
            r["job"],
            r["schedule"],
            r["state"],
            _when(r["next_run"]),
            _when(r["last_started"]),
            status,
            _seconds(r["last_duration_s"]),
            f"{r['sla_minutes']:g} min" if r["sla_minutes"] else "",
        )
    print_table(table)
    out.print(scheduler_line(holder), highlight=False)


def _queue(workspace, name: str, action: str, params: dict | None = None):
    with fail_cleanly(SCHEDULER_DB):
        ws, db = _db(workspace)
        with audit_cli(ws, JOB_ACTIONS[action], name) as details:
            command_id = db.enqueue(_check_job(name), action, params, by=_actor())
            details.update(command=command_id, params=params or {})
        holder = db.holder()
    out.print(f"{action} {name}: queued (command {command_id})", highlight=False)
    out.print(scheduler_line(holder), highlight=False)
    return db, command_id, holder


@jobs_app.command("run")
def run_cmd(
    name: NameArg,
    workspace: WorkspaceOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="training_pipeline: train even without new data.")
    ] = False,
    window: Annotated[
        str | None, typer.Option(help="drift_check: window of the prediction log (24h, 5000).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the run to finish and print its summary.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 3600,
) -> None:
    """Run a job now (the running scheduler starts it within seconds)."""
    params = {k: v for k, v in {"force": force or None, "window": window}.items() if v}
    db, command_id, holder = _queue(workspace, name, "run", params)
    if not wait:
        return
    if not (holder and holder["live"]):
        err.print("not waiting: no scheduler is running", highlight=False)
        raise typer.Exit(1)
    row = _wait_for_run(db, command_id, timeout)
    _print_run(row)
    if row["status"] == "failed":
        raise typer.Exit(1)


def _wait_for_run(db, command_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = db.runs(command_id=command_id, limit=1)
        if runs and runs[0]["status"] != "running":
            return runs[0]
        command = db.command(command_id) or {}
        if (command.get("result") or "").startswith("error"):
            fail(command["result"])
        time.sleep(0.5)
    fail(f"the run did not finish within {timeout:g} s")


def _print_run(row: dict) -> None:
    out.print(
        f"{row['job']} run {row['id']}: {_status(row['status'])} in "
        f"{_seconds(row['duration_s'])}" + (f" - {row['error']}" if row["error"] else ""),
        highlight=False,
    )
    for key, value in (row["summary"] or {}).items():
        if value not in (None, [], {}, ""):
            out.print(f"  {key}: {value}", highlight=False)


@jobs_app.command("pause")
def pause_cmd(name: NameArg, workspace: WorkspaceOpt = None) -> None:
    """Pause a job's automatic runs (run now still works)."""
    _queue(workspace, name, "pause")


@jobs_app.command("resume")
def resume_cmd(name: NameArg, workspace: WorkspaceOpt = None) -> None:
    """Resume a paused job."""
    _queue(workspace, name, "resume")


@jobs_app.command("history")
def history_cmd(
    workspace: WorkspaceOpt = None,
    job: Annotated[str | None, typer.Option(help="Only this job.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Past runs: job, trigger, start, duration, status, summary or error."""
    with fail_cleanly(SCHEDULER_DB):
        _, db = _db(workspace)
        runs = db.runs(job=_check_job(job) if job else None, limit=limit, status=status)
    if as_json:
        print_json([pick(r, HISTORY_KEYS) | {"text": r["error"] or run_text(r)} for r in runs])
        return
    if not runs:
        out.print("no job runs yet")
        return
    table = Table("run", "job", "trigger", "started (UTC)", "took", "status", "summary / error")
    for r in runs:
        table.add_row(
            str(r["id"]),
            r["job"],
            r["trigger"],
            _when(r["started_at"]),
            _seconds(r["duration_s"]),
            _status(r["status"]),
            r["error"] or run_text(r),
        )
    print_table(table)
