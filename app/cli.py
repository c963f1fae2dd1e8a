"""The `workbench` command line: the composition root for every runtime."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import WorkbenchError

app = typer.Typer(
    help="MLOps workbench: data, experiments, promotion, serving, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="The data pipeline.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data helpers.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(demo_app, name="demo")

out = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar="WORKBENCH_HOME",
        help="Workspace directory [default: ./workspace].",
    ),
]
APP_MAIN = Path(__file__).with_name("main.py")


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show log records.")] = False,
) -> None:
    """MLOps workbench: data, experiments, promotion, serving, monitoring."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@contextlib.contextmanager
def _fail_cleanly():
    """Turn a domain error into one line on stderr and exit code 1 (never a traceback)."""
    try:
        yield
    except WorkbenchError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _open(workspace: Path | None):
    from core.workspace import Workspace

    ws = Workspace.open(workspace)
    ws.config  # noqa: B018 - validate the config now so errors name the file and key
    return ws


@app.command()
def init(
    workspace: WorkspaceOpt = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the landing zone with demo data.")
    ] = False,
    dataset: Annotated[str, typer.Option(help="Demo dataset: flights | computers.")] = "flights",
    initial: Annotated[int | None, typer.Option(help="Demo periods to land now.")] = None,
) -> None:
    """Create a workspace: config, folders, git + DVC repo with a local remote."""
    from core.bootstrap import init_workspace
    from core.workspace import resolve_workspace

    with _fail_cleanly():
        summary = init_workspace(resolve_workspace(workspace), dataset if demo else None, initial)
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

    with _fail_cleanly():
        ws = _open(workspace)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("data pipeline", total=1.0)
            result = run_pipeline(
                ws, lambda f, msg: bar.update(task, completed=f, description=msg[:60])
            )
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

    with _fail_cleanly():
        ws = _open(workspace)
        report = validate_table(ws, read_table(path), stage, path.name)
        json_path, html_path = write_report(report, ws.reports / "adhoc", f"{path.stem}_{stage}")
    table = Table("rule", "column", "status", "observed", "threshold")
    for r in report.results:
        colour = {"pass": "green", "warn": "yellow", "fail": "red"}[r.status]
        table.add_row(
            r.rule, r.column or "", f"[{colour}]{r.status}[/{colour}]", str(r.observed), r.threshold
        )
    out.print(table)
    out.print(report.summary_line(), highlight=False)
    out.print(f"report: {html_path}", highlight=False)
    if report.status == "fail":
        raise typer.Exit(1)


@data_app.command("versions")
def data_versions(workspace: WorkspaceOpt = None) -> None:
    """List data versions (newest first): commit, date, rows, DVC md5."""
    from core.data.versioning import list_versions

    with _fail_cleanly():
        versions = list_versions(_open(workspace))
    if not versions:
        out.print("no data versions yet: run `workbench data run`")
        return
    table = Table("version", "commit", "date", "rows", "md5", "batches")
    for v in versions:
        table.add_row(v.id, v.short, v.date, str(v.rows), v.md5, str(len(v.batches)))
    out.print(table)


@app.command()
def train(
    workspace: WorkspaceOpt = None,
    data_version: Annotated[
        str | None, typer.Option("--data-version", help="Version id, commit or md5 prefix.")
    ] = None,
) -> None:
    """Train every candidate on a data version, track in MLflow, register the best."""
    import warnings

    from rich.progress import Progress

    from core.training.train import train as run_training

    warnings.filterwarnings("ignore", module="mlflow")
    with _fail_cleanly():
        ws = _open(workspace)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("training", total=1.0)
            result = run_training(
                ws, data_version, lambda f, msg: bar.update(task, completed=f, description=msg)
            )
    _print_training(result)


def _print_training(result) -> None:
    metric = result.metric
    table = Table(
        "candidate",
        f"train {metric}",
        f"val {metric}",
        f"test {metric}",
        "fit s",
        "diagnosis",
        title=f"data version {result.data_version}",
        caption=f"* chosen on val {metric}; test is the untouched holdout",
    )
    for c in result.candidates:
        flags = [f for f in ("overfit", "underfit") if c.diagnosis[f]]
        name = f"[bold]{c.name} *[/bold]" if c is result.best else c.name
        table.add_row(
            name,
            *(f"{c.metrics[s][metric]:.4f}" for s in ("train", "val", "test")),
            f"{c.fit_seconds:.1f}",
            ", ".join(flags) or "ok",
        )
    out.print(table)
    if result.refit:
        refit = result.refit
        out.print(
            f"refit {refit.name} on train + validation ({refit.fit_rows:,} rows): "
            f"test {metric} {refit.metrics['test'][metric]:.4f}",
            highlight=False,
        )
    reg = result.registered
    if reg:
        out.print(
            f"registered {reg['name']} version {reg['version']} "
            f"({', '.join(reg['aliases'])}) from run {result.final.run_id}",
            highlight=False,
        )
        if reg.get("gates"):
            note = " and was auto-promoted" if reg.get("auto_promoted") else ""
            out.print(
                f"gates: {reg['gates']}{note} "
                f"(`workbench models gates {reg['name']} {reg['version']}` for details)",
                highlight=False,
            )
    out.print(f"done in {result.duration_s:.0f} s", highlight=False)


@app.command()
def serve(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the prediction API.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    poll_seconds: Annotated[
        float | None, typer.Option(help="Alias poll interval (default from config: 5 s).")
    ] = None,
) -> None:
    """Start the prediction API (Litestar on uvicorn) serving the champion."""
    import uvicorn

    with _fail_cleanly():
        ws = _open(workspace)
    os.environ["WORKBENCH_HOME"] = str(ws.root)
    if poll_seconds is not None:
        os.environ["WORKBENCH_POLL_SECONDS"] = str(poll_seconds)
    out.print(f"prediction API on http://{host}:{port} (docs: /schema)", highlight=False)
    uvicorn.run(
        "api.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


@demo_app.command("drip")
def demo_drip(
    workspace: WorkspaceOpt = None,
    count: Annotated[int, typer.Option(help="How many held-back files arrive.")] = 1,
) -> None:
    """Move the next held-back demo file(s) into the landing zone."""
    from core.demo import drip

    with _fail_cleanly():
        moved = drip(_open(workspace).root, count)
    out.print(
        f"landed {len(moved)} file(s): " + ", ".join(p.name for p in moved)
        if moved
        else "no held-back demo files left"
    )


def _streamlit_cmd(port: int, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_MAIN),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]


@app.command()
def ui(
    workspace: WorkspaceOpt = None,
    port: Annotated[int, typer.Option(help="Port of the Streamlit UI.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Start the Streamlit UI on the workspace."""
    with _fail_cleanly():
        ws = _open(workspace)
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root))
    out.print(f"UI on http://{host}:{port} (workspace {ws.root})")
    raise typer.Exit(subprocess.call(_streamlit_cmd(port, host), env=env))


@app.command()
def up(
    workspace: WorkspaceOpt = None,
    port: Annotated[int, typer.Option(help="Port of the Streamlit UI.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option(help="Port of the prediction API.")] = 8000,
) -> None:
    """Seed the demo workspace if absent, run the data pipeline, start API, scheduler and UI."""
    from core.bootstrap import init_workspace
    from core.data.pipeline import run_pipeline
    from core.data.versioning import latest_version
    from core.workspace import Workspace, resolve_workspace

    root = resolve_workspace(workspace)
    with _fail_cleanly():
        if not (root / "workbench.yaml").exists():
            init_workspace(root, demo="flights")
            out.print(f"created demo workspace {root}")
        ws = Workspace.open(root)
        if latest_version(ws) is None:
            out.print("first data pipeline run ...")
            out.print(run_pipeline(ws).message, highlight=False)
        _first_training_in_background(ws)
        _api_in_background(ws, host, api_port)
        _scheduler_in_background(ws, f"http://{host}:{api_port}")
    ui(workspace=root, port=port, host=host)


def _scheduler_in_background(ws, api_url: str) -> None:
    """Start `workbench scheduler` detached (see `app.cli_jobs.scheduler_in_background`)."""
    from app.cli_jobs import scheduler_in_background

    scheduler_in_background(ws, api_url)


def _api_in_background(ws, host: str, port: int) -> None:
    """Start `workbench serve` detached; it answers once a champion exists (it polls)."""
    log_path = ws.state / "api.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log_file:
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "-w",
                str(ws.root),
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    out.print(f"prediction API on http://{host}:{port} (log: {log_path})", highlight=False)


def _first_training_in_background(ws) -> None:
    """Start `workbench train` detached when nothing is registered yet (the UI comes up now)."""
    if (ws.root / "mlflow.db").exists() or latest_version_or_none(ws) is None:
        return
    import mlflow

    # Create the MLflow store here, once: the API and the training would otherwise both run
    # its schema migrations at the same moment (seen: "_alembic_tmp_experiments already exists").
    mlflow.MlflowClient(tracking_uri=ws.tracking_uri).search_experiments()
    log_path = ws.state / "first-train.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log_file:
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "train", "-w", str(ws.root)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    out.print(f"first training started in the background (log: {log_path})", highlight=False)


def latest_version_or_none(ws):
    """The latest data version, or None (never raises)."""
    from core.data.versioning import latest_version

    try:
        return latest_version(ws)
    except WorkbenchError:
        return None


from app.cli_models import models_app  # noqa: E402 - after `app` exists: cli_models imports it

app.add_typer(models_app, name="models")

from app.cli_monitoring import monitoring_app  # noqa: E402 - after `app`, as cli_models

app.add_typer(monitoring_app)  # no name: `workbench drift`, `workbench alerts` at the top level

from app.cli_jobs import jobs_cli  # noqa: E402 - after `app`, as cli_models

app.add_typer(jobs_cli)  # no name: `workbench scheduler`, `jobs ...`, `simulate`

from app.cli_deploy import deploy_app  # noqa: E402 - after `app`, as cli_models

app.add_typer(deploy_app, name="deploy")

if __name__ == "__main__":  # pragma: no cover - `python -m app.cli` convenience
    app()
