"""`workbench serve`, `ui`, `up` and `down`: the long-running processes and their lifecycle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import (
    WorkspaceOpt,
    audit_cli,
    fail_cleanly,
    migrate_keys,
    open_workspace,
    out,
)
from app.cli.processes import Service, forget, record, running_services, start_detached, stop
from core import access
from core.errors import WorkbenchError
from core.files import utc_now_iso

servers_app = typer.Typer()
APP_MAIN = Path(__file__).parent.parent / "main.py"
HostOpt = Annotated[str, typer.Option(help="Address to bind.")]
UiPortOpt = Annotated[int, typer.Option(help="Port of the Streamlit UI.")]
ApiPortOpt = Annotated[int, typer.Option(help="Port of the prediction API.")]


def workbench_argv(*args: str) -> list[str]:
    """The command line of a `workbench` subcommand run by this interpreter."""
    return [sys.executable, "-m", "app.cli", *args]


@servers_app.command()
def serve(
    workspace: WorkspaceOpt = None,
    host: HostOpt = "127.0.0.1",
    port: ApiPortOpt = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    poll_seconds: Annotated[
        float | None, typer.Option(help="Alias poll interval (default from config: 5 s).")
    ] = None,
) -> None:
    """Start the prediction API (Litestar on uvicorn) serving the champion."""
    import uvicorn

    with fail_cleanly():
        ws = open_workspace(workspace, migrate=False)  # the API rewrites no file
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
        "--client.toolbarMode",  # no "Deploy" button (it publishes to Community Cloud)
        "viewer",
    ]


@servers_app.command()
def ui(workspace: WorkspaceOpt = None, port: UiPortOpt = 8501, host: HostOpt = "127.0.0.1") -> None:
    """Start the Streamlit UI on the workspace."""
    with fail_cleanly():
        ws = open_workspace(workspace)
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root))
    out.print(f"UI on http://{host}:{port} (workspace {ws.root})")
    raise typer.Exit(subprocess.call(_streamlit_cmd(port, host), env=env))


@servers_app.command()
def up(
    workspace: WorkspaceOpt = None,
    port: UiPortOpt = 8501,
    host: HostOpt = "127.0.0.1",
    api_port: ApiPortOpt = 8000,
    detach: Annotated[
        bool,
        typer.Option("--detach", "-d", help="Start the UI in the background too and return."),
    ] = False,
    traffic: Annotated[
        bool,
        typer.Option(help="In a demo workspace, replay demo days as live traffic (demo traffic)."),
    ] = True,
) -> None:
    """Seed the demo workspace if absent, run the data pipeline, start API, scheduler and UI.

    In a demo workspace (one with held-back days) it also starts `workbench demo traffic`.
    What is already running from an earlier `up` is reported, not started again; `workbench
    down` stops it all.
    """
    from core.workspace import Workspace, resolve_workspace
    from core.workspace.bootstrap import init_workspace

    root = resolve_workspace(workspace)
    with fail_cleanly():
        if not (root / "workbench.yaml").exists():
            init_workspace(root, demo="flights")
            out.print(f"created demo workspace {root}")
        ws = migrate_keys(Workspace.open(root))
        running = running_services(ws)
        replay = traffic and ws.holdback.is_dir()
        wanted = ["api", "scheduler", "ui", *(["traffic"] if replay else [])]
        if set(wanted) <= running.keys():
            _say_running(running.values(), "already running (`workbench down` stops them)")
            return
        starting = [name for name in wanted if name not in running]
        with audit_cli(ws, access.START_SERVICES, ", ".join(starting)):
            _start(ws, running, host, api_port, replay)
    _say_running([s for s in running.values() if s.name != "train"], "already running")
    if "ui" not in running:
        api_url = running["api"].url if "api" in running else f"http://{host}:{api_port}"
        _ui_for_up(ws, host, port, detach, api_url)


def _start(ws, running: dict, host: str, api_port: int, replay: bool) -> None:
    """`up`'s background part: a first pipeline run and training, API, scheduler, traffic."""
    from core.data.pipeline import run_pipeline
    from core.data.versioning import latest_version

    if latest_version(ws) is None:
        out.print("first data pipeline run ...")
        out.print(run_pipeline(ws).message, highlight=False)
    if "train" not in running:
        _first_training_in_background(ws)
    api_url = f"http://{host}:{api_port}"
    if "api" not in running:
        _api_in_background(ws, host, api_port)
    api_url = running["api"].url if "api" in running else api_url
    if "scheduler" not in running:
        _scheduler_in_background(ws, api_url)
    if replay and "traffic" not in running:
        _traffic_in_background(ws, api_url)


def _say_running(services, what: str) -> None:
    services = list(services)
    if services:
        out.print(f"{what}:", highlight=False)
    for service in services:
        out.print(f"  {service.line()}", highlight=False)


def _ui_for_up(ws, host: str, port: int, detach: bool, api_url: str) -> None:
    """Start the UI, detached or in the foreground (its pid file removed when it ends).

    The UI looks for the API `up` started (`api_url`) unless `serving.url` or
    `WORKBENCH_API_URL` says otherwise.
    """
    argv, url = _streamlit_cmd(port, host), f"http://{host}:{port}"
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root))
    env.setdefault("WORKBENCH_API_URL", api_url)
    if detach:
        log_path = ws.state / "ui.log"
        service = start_detached(ws, "ui", argv, log_path, url, env)
        out.print(f"UI on {url} (pid {service.pid}, log: {log_path})", highlight=False)
        out.print("`workbench down` stops all of them", highlight=False)
        return
    out.print(f"UI on {url} (workspace {ws.root})")
    proc = subprocess.Popen(argv, env=env)
    service = Service("ui", proc.pid, argv, utc_now_iso("seconds"), url, group=False)
    record(ws, service)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached streamlit too: let it finish
        code = proc.wait()
    finally:
        forget(ws, service)
    raise typer.Exit(0 if code in (0, -15) else code)  # -15: stopped by `workbench down`


@servers_app.command()
def down(
    workspace: WorkspaceOpt = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a graceful stop before killing.")
    ] = 20,
) -> None:
    """Stop what `workbench up` started: API, scheduler, UI, a first training, demo traffic."""
    from core.workspace import resolve_workspace

    root = resolve_workspace(workspace)
    with fail_cleanly():
        ws = open_workspace(root)
        running = running_services(ws)
        if not running:
            out.print(f"nothing started by `workbench up` is running for {ws.root}")
            return
        with audit_cli(ws, access.STOP_SERVICES, ", ".join(running)):
            stop(ws, list(running.values()), timeout)
    _say_running(running.values(), "stopped")


def _scheduler_in_background(ws, api_url: str) -> None:
    """Start `workbench scheduler` detached; a scheduler started otherwise stays leader.

    Args:
        ws: The workspace.
        api_url: Where `up` started the API (the deploy step reloads it), unless
            `serving.url` or `WORKBENCH_API_URL` says otherwise.
    """
    env = dict(os.environ)
    env.setdefault("WORKBENCH_API_URL", api_url)
    log_path = ws.state / "scheduler.log"
    argv = workbench_argv("scheduler", "-w", str(ws.root))
    start_detached(ws, "scheduler", argv, log_path, env=env)
    out.print(f"scheduler started (log: {log_path}; `workbench jobs list`)", highlight=False)


def _traffic_in_background(ws, api_url: str) -> None:
    """Start `workbench demo traffic` detached (it waits for the API and a champion)."""
    env = dict(os.environ)
    env.setdefault("WORKBENCH_API_URL", api_url)
    log_path = ws.state / "traffic.log"
    argv = workbench_argv("demo", "traffic", "-w", str(ws.root))
    start_detached(ws, "traffic", argv, log_path, env=env)
    out.print(
        f"demo traffic started: predictions, labels a minute later, a new day every 10 minutes "
        f"(log: {log_path}; `up --no-traffic` skips it)",
        highlight=False,
    )


def _api_in_background(ws, host: str, port: int) -> None:
    """Start `workbench serve` detached; it answers once a champion exists (it polls)."""
    url = f"http://{host}:{port}"
    log_path = ws.state / "api.log"
    argv = workbench_argv("serve", "-w", str(ws.root), "--host", host, "--port", str(port))
    start_detached(ws, "api", argv, log_path, url)
    out.print(f"prediction API on {url} (log: {log_path})", highlight=False)


def _first_training_in_background(ws) -> None:
    """Start `workbench train` detached when nothing is registered yet (the UI comes up now)."""
    if ws.mlflow_db.exists() or latest_version_or_none(ws) is None:
        return
    import mlflow

    # Create the MLflow store here, once: the API and the training would otherwise both run
    # its schema migrations at the same moment (seen: "_alembic_tmp_experiments already exists").
    mlflow.MlflowClient(tracking_uri=ws.tracking_uri).search_experiments()
    log_path = ws.state / "first-train.log"
    argv = workbench_argv("train", "-w", str(ws.root))
    start_detached(ws, "train", argv, log_path, log_mode="w")
    out.print(f"first training started in the background (log: {log_path})", highlight=False)


def latest_version_or_none(ws):
    """The latest data version, or None (never raises)."""
    from core.data.versioning import latest_version

    try:
        return latest_version(ws)
    except WorkbenchError:
        return None
