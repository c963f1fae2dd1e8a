"""`workbench scheduler` and `workbench simulate`: the unattended loop, live or fast-forwarded."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import (
    SCHEDULER_DB,
    WorkspaceOpt,
    err,
    fail_cleanly,
    open_workspace,
    out,
    print_json,
)

scheduler_app = typer.Typer()


def _quiet_mlflow() -> None:
    """Jobs train and register models: keep MLflow's per-model notices out of the output."""
    import warnings

    warnings.filterwarnings("ignore", module="mlflow")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


@scheduler_app.command("scheduler")
def scheduler_cmd(workspace: WorkspaceOpt = None) -> None:
    """Run the scheduler (data 02:00, training 04:00, hourly drift); a second one stands by."""
    from scheduler.app import validate_triggers
    from scheduler.service import SchedulerService
    from scheduler.settings import SchedulerSettings

    with fail_cleanly(SCHEDULER_DB):
        ws = open_workspace(workspace)
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


@scheduler_app.command("simulate")
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
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Then run the same days under retraining on every drift alert "
            "(schedules.simulation.baseline) and print both side by side.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON (progress on stderr).")
    ] = False,
) -> None:
    """Fast-forward the loop through demo days: data, training, promotion, traffic, drift."""
    from scheduler.simulate import print_comparison, print_summary, simulate

    _quiet_mlflow()
    echo = err.print if as_json else out.print
    with fail_cleanly(SCHEDULER_DB):
        summary = simulate(days, workspace, out_dir, in_place, echo=echo, compare=compare)
    if as_json:
        print_json(summary)
        return
    print_summary(summary, out)
    if compare:
        print_comparison(summary, out)
