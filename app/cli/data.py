"""`workbench init`, `workbench data ...`, `workbench demo drip|traffic`: a workspace, its data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    audit_cli,
    err,
    fail_cleanly,
    open_workspace,
    out,
    print_json,
    print_table,
)
from core import access

workspace_app = typer.Typer()
data_app = typer.Typer(help="The data pipeline.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data helpers.", no_args_is_help=True)


@workspace_app.command()
def init(
    workspace: WorkspaceOpt = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the landing zone with demo data.")
    ] = False,
    dataset: Annotated[str, typer.Option(help="Demo dataset: flights | computers.")] = "flights",
    initial: Annotated[int | None, typer.Option(help="Demo periods to land now.")] = None,
) -> None:
    """Create a workspace: config, folders, git + DVC repo with a local remote."""
    from core.workspace import Workspace, resolve_workspace
    from core.workspace.bootstrap import init_workspace

    with fail_cleanly():
        root = resolve_workspace(workspace)
        summary = init_workspace(root, dataset if demo else None, initial)
        # recorded once the workspace (and so its log) exists: a failed init has no log to keep
        with audit_cli(Workspace(root), access.INIT_WORKSPACE) as details:
            details.update(config_created=summary["config_created"])
            if "demo" in summary:
                details.update(demo=summary["demo"]["dataset"])
    state = "created" if summary["config_created"] else "already initialised (config kept)"
    out.print(f"workspace {summary['root']}: {state}")
    if "demo" in summary:
        d = summary["demo"]
        out.print(
            f"demo '{d['dataset']}': {d['landing']} file(s) in landing/, "
            f"{d['held_back']} held back (`workbench demo drip` lands more)"
        )
    if summary.get("api_key"):
        out.print(f"demo API key (X-API-Key): {summary['api_key']}", highlight=False)


@data_app.command("run")
def data_run(workspace: WorkspaceOpt = None) -> None:
    """Ingest new batches, validate, preprocess, build features and version them."""
    from rich.progress import Progress

    from core.data.pipeline import run_pipeline

    with fail_cleanly():
        ws = open_workspace(workspace)
        with (
            audit_cli(ws, access.RUN_PIPELINE) as details,
            Progress(console=err, transient=True) as bar,
        ):
            task = bar.add_task("data pipeline", total=1.0)
            result = run_pipeline(
                ws, lambda f, msg: bar.update(task, completed=f, description=msg[:60])
            )
            details.update(message=result.message, rejected=len(result.rejected))
    for b in result.batches:
        mark = "[green]accepted[/green]" if b.status == "accepted" else "[red]quarantined[/red]"
        out.print(
            f"  {b.name}: {mark} ({b.rows} rows, {b.warnings} warning(s))"
            + (f" - {b.reason}" if b.reason else ""),
            highlight=False,
        )
    out.print(result.message, highlight=False)
    if result.rejected:
        raise typer.Exit(1)


@data_app.command("validate")
def data_validate(
    path: Annotated[Path, typer.Argument(help="A CSV or Parquet file.")],
    stage: Annotated[str, typer.Option(help="raw | processed | features")] = "raw",
    workspace: WorkspaceOpt = None,
) -> None:
    """Validate one file against a stage's rules and print the report summary."""
    from core.data.pipeline import validate_table
    from core.data.readers import read_table
    from core.data.validation import write_report

    with fail_cleanly():
        ws = open_workspace(workspace)
        with audit_cli(ws, access.VALIDATE_FILE, str(path)) as details:
            report = validate_table(ws, read_table(path), stage, path.name)
            json_path, html_path = write_report(
                report, ws.reports / "adhoc", f"{path.stem}_{stage}"
            )
            details.update(stage=stage, status=report.status, report=str(html_path))
    table = Table("rule", "column", "status", "observed", "threshold")
    for r in report.results:
        colour = {"pass": "green", "warn": "yellow", "fail": "red"}[r.status]
        table.add_row(
            r.rule, r.column or "", f"[{colour}]{r.status}[/{colour}]", str(r.observed), r.threshold
        )
    print_table(table)
    out.print(report.summary_line(), highlight=False)
    out.print(f"report: {html_path}", highlight=False)
    if report.status == "fail":
        raise typer.Exit(1)


@data_app.command("versions")
def data_versions(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List data versions (newest first): commit, date, rows, DVC md5."""
    from core.data.versioning import list_versions

    with fail_cleanly():
        versions = list_versions(open_workspace(workspace))
    if as_json:
        print_json(
            [
                {
                    "id": v.id,
                    "commit": v.commit,
                    "date": v.date,
                    "rows": v.rows,
                    "md5": v.md5,
                    "batches": v.batches,
                }
                for v in versions
            ]
        )
        return
    if not versions:
        out.print("no data versions yet: run `workbench data run`")
        return
    table = Table("version", "commit", "date", "rows", "md5", "batches")
    for v in versions:
        table.add_row(v.id, v.short, v.date, str(v.rows), v.md5, str(len(v.batches)))
    print_table(table)


@demo_app.command("drip")
def demo_drip(
    workspace: WorkspaceOpt = None,
    count: Annotated[int, typer.Option(help="How many held-back files arrive.")] = 1,
) -> None:
    """Move the next held-back demo file(s) into the landing zone."""
    from core.workspace.demo import drip

    with fail_cleanly():
        ws = open_workspace(workspace)
        with audit_cli(ws, access.LAND_DEMO_DATA) as details:
            moved = drip(ws.root, count)
            details.update(files=[p.name for p in moved])
    out.print(
        f"landed {len(moved)} file(s): " + ", ".join(p.name for p in moved)
        if moved
        else "no held-back demo files left"
    )


@demo_app.command("traffic")
def demo_traffic(
    workspace: WorkspaceOpt = None,
    rate: Annotated[
        float, typer.Option(min=0.01, help="Prediction requests per second (one record each).")
    ] = 2.0,
    label_delay: Annotated[
        float, typer.Option(min=0, help="Seconds before a prediction's label is sent.")
    ] = 60.0,
    drip_every: Annotated[
        float, typer.Option(min=0, help="Minutes between two held-back days landing; 0 = never.")
    ] = 10.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the choice among landed days.")] = None,
) -> None:
    """Replay demo days as live traffic until Ctrl-C: predictions, their labels, new days.

    Sends the next held-back day's raw records (or landed days' once none is held back) to the
    API, posts each one's actual target to /feedback after --label-delay, and lands a held-back
    day every --drip-every minutes. Waits for the API and a champion first.
    """
    import signal
    import threading
    import time

    from core.serving.client import ServingClient, resolve_target
    from core.serving.replay import ReplaySettings, TrafficReplay

    with fail_cleanly():
        ws = open_workspace(workspace)
        target = resolve_target(ws)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    settings = ReplaySettings(rate, label_delay, drip_every * 60)
    out.print(
        f"demo traffic: {rate:g} request(s)/s, labels after {label_delay:g} s, "
        + (f"a new day every {drip_every:g} min" if drip_every else "no new days")
        + " (Ctrl-C stops)",
        highlight=False,
        soft_wrap=True,
    )

    def say(message: str) -> None:
        out.print(f"{time.strftime('%H:%M:%S')} {message}", highlight=False, soft_wrap=True)

    with fail_cleanly():
        stats = TrafficReplay(ws, ServingClient(target), settings, stop, say, seed).run()
    out.print(f"stopped: {stats.line()}", highlight=False, soft_wrap=True)
