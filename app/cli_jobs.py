"""`workbench scheduler`, `workbench jobs ...` and `workbench simulate`.

`jobs` commands never import APScheduler: they read the run history and the mirrored schedule
from the scheduler database and queue commands that the running scheduler applies within
`schedules.poll_seconds` (or at its next start).
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

# Defined before importing app.cli: app.cli imports this module at its end (see cli_models).
jobs_cli = typer.Typer(help="Scheduler, jobs and the simulated month.")
jobs_app = typer.Typer(
    help="Scheduled jobs: list, run now, pause, resume, history.", no_args_is_help=True
)
jobs_cli.add_typer(jobs_app, name="jobs")

from app.cli import WorkspaceOpt, _fail_cleanly, _open, err, out  # noqa: E402 - see above
from core.errors import WorkbenchError  # noqa: E402 - after jobs_cli, see above
from core.jobs import run_text  # noqa: E402 - after jobs_cli, see above
from core.schedules import JOB_NAMES  # noqa: E402 - after jobs_cli, see above

NameArg = Annotated[str, typer.Argument(help=f"Job name: {', '.join(JOB_NAMES)}.")]
COLOURS = {
    "ok": "green",
    "running": "cyan",
    "skipped": "dim",
    "failed": "red",
    "interrupted": "yellow",
    "missed": "yellow",
}


@contextlib.contextmanager
def _cleanly():
    """`_fail_cleanly`, and an unreachable scheduler database as one line too."""
    import sqlalchemy as sa

    with _fail_cleanly():
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise WorkbenchError(f"the scheduler database cannot be used: {reason}") from None


def _db(workspace):
    from core.jobs import JobsDB

    ws = _open(workspace)
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


def _quiet_mlflow() -> None:
    """Jobs train and register models: keep MLflow's per-model notices out of the output."""
    import warnings

    warnings.filterwarnings("ignore", module="mlflow")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


# --------------------------------------------------------------------------- the scheduler
@jobs_cli.command("scheduler")
def scheduler_cmd(workspace: WorkspaceOpt = None) -> None:
    """Run the scheduler (data 02:00, training 04:00, hourly drift); a second one stands by."""
    from scheduler.app import validate_triggers
    from scheduler.service import SchedulerService
    from scheduler.settings import SchedulerSettings

    with _cleanly():
        ws = _open(workspace)
        settings = SchedulerSettings.from_workspace(ws)
        validate_triggers(settings)
        service = SchedulerService(settings)
    logging.getLogger("workbench.scheduler").setLevel(logging.INFO)
    _quiet_mlflow()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    out.print(
        f"scheduler {service.owner} for {ws.root} (database {service.db}); Ctrl-C stops it",
        highlight=False,
    )
    service.serve()
    out.print("scheduler stopped", highlight=False)
    if not service.runner.wait_idle(0):
        os._exit(0)  # job threads past the stop grace were recorded as interrupted


# --------------------------------------------------------------------------- jobs
@jobs_app.command("list")
def list_cmd(workspace: WorkspaceOpt = None) -> None:
    """Jobs with their schedule, state, next run and last run."""
    from core.jobs import jobs_overview

    with _cleanly():
        ws, db = _db(workspace)
        rows, holder = jobs_overview(db, ws), db.holder()
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
    out.print(table)
    out.print(scheduler_line(holder), highlight=False)


def _queue(workspace, name: str, action: str, params: dict | None = None):
    with _cleanly():
        ws, db = _db(workspace)
        command_id = db.enqueue(_check_job(name), action, params, by=_actor())
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
            raise typer.Exit(_fail(command["result"]))
        time.sleep(0.5)
    raise typer.Exit(_fail(f"the run did not finish within {timeout:g} s"))


def _fail(message: str) -> int:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return 1


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
) -> None:
    """Past runs: job, trigger, start, duration, status, summary or error."""
    with _cleanly():
        _, db = _db(workspace)
        runs = db.runs(job=_check_job(job) if job else None, limit=limit, status=status)
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
    out.print(table)


# --------------------------------------------------------------------------- simulate
@jobs_cli.command("simulate")
def simulate_cmd(
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days to run.")] = 14,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Start from this workspace (copied unless --in-place) [default: a new demo].",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder of the simulated workspace [default: a temp folder]."),
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Run on --workspace itself, not a copy.")
    ] = False,
) -> None:
    """Fast-forward the loop through demo days: data, training, promotion, traffic, drift."""
    from scheduler.simulate import print_summary, simulate

    _quiet_mlflow()
    with _cleanly():
        summary = simulate(days, workspace, out_dir, in_place, echo=out.print)
    print_summary(summary, out)


def scheduler_in_background(ws, api_url: str) -> None:
    """Start `workbench scheduler` detached (for `workbench up`); a running one stays leader.

    Args:
        ws: The workspace.
        api_url: Where `up` started the API (the deploy step reloads it), unless
            `serving.url` or `WORKBENCH_API_URL` says otherwise.
    """
    import subprocess
    import sys

    log_path = ws.state / "scheduler.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("WORKBENCH_API_URL", api_url)
    with log_path.open("a") as log_file:
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "scheduler", "-w", str(ws.root)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    out.print(f"scheduler started (log: {log_path}; `workbench jobs list`)", highlight=False)
