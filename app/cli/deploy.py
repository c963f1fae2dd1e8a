"""`workbench deploy ...`: images, blue/green rollouts and rollbacks of the API on Docker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import (
    WorkspaceOpt,
    audit_cli,
    err,
    fail_cleanly,
    open_workspace,
    out,
    print_table,
)
from core import access

deploy_app = typer.Typer(
    help="Docker: build images, roll out the API blue/green, roll back, status and logs.",
    no_args_is_help=True,
)


NameOpt = Annotated[str, typer.Option("--name", help="Deployment name (containers wb-NAME-*).")]
PortOpt = Annotated[
    int, typer.Option("--port", help="Port of the entry point on 127.0.0.1 (first rollout).")
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the new container to be healthy.")
]


def _say(line: str) -> None:
    err.print(line, highlight=False, markup=False)


def _workspace_or_none(workspace):
    """The workspace whose audit log records a build or rollback, else None.

    One named by `-w` or `WORKBENCH_HOME` that exists; without one these commands, which need
    no workspace, record nothing (`make` exports a `WORKBENCH_HOME` that may not exist yet).
    """
    from core.workspace import CONFIG_NAME

    if workspace is None or not (Path(workspace) / CONFIG_NAME).is_file():
        return None
    return open_workspace(workspace)


def _deployment(name: str, port: int = 8000):
    from core.deploy.rollout import Deployment

    return Deployment(name, port)


@deploy_app.command("build")
def build(
    role: Annotated[
        str,
        typer.Option(
            help="api | workbench (UI + scheduler) | mlflow | haproxy (the entry) | prometheus"
            " | alertmanager"
        ),
    ] = "api",
    tag: Annotated[
        str | None, typer.Option(help="Image tag [default: REPO:VERSION-DIGEST].")
    ] = None,
    base_image: Annotated[
        str | None, typer.Option(help="BASE_IMAGE build argument (e.g. workbench-base:bookworm).")
    ] = None,
    wheelhouse: Annotated[
        bool,
        typer.Option(help="Prepare the wheels here with this machine's pip (offline build)."),
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide the build output.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Build an image (legacy builder; dependencies cached in their own layer).

    Recorded in the audit log of the workspace named by -w or WORKBENCH_HOME, if any.
    """
    from core.deploy.images import build_image

    with fail_cleanly():
        ws = _workspace_or_none(workspace)
        with audit_cli(ws, access.DEPLOY_BUILD, role) as details:
            built = build_image(role, tag, base_image, wheelhouse, None if quiet else _say)
            details["tag"] = built.tag
    out.print(
        f"built {built.tag} ({built.id[7:19]}) in {built.seconds:.0f} s, "
        f"{built.cached_steps}/{built.steps} steps from cache",
        highlight=False,
    )


@deploy_app.command("base-image")
def base_image_cmd(
    tag: Annotated[
        str, typer.Option(help="Tag of the local base image.")
    ] = "workbench-base:bookworm",
    force: Annotated[bool, typer.Option(help="Rebuild even if the tag exists.")] = False,
) -> None:
    """Make a Debian bookworm + Python base image with debootstrap (no registry needed)."""
    from core.deploy.base import ensure_base_image

    with fail_cleanly():
        out.print(ensure_base_image(tag, force=force, on_line=_say), highlight=False)


@deploy_app.command("engine")
def engine() -> None:
    """Start a private dockerd when no engine answers (root, Debian's docker.io)."""
    from core.deploy.engine import LOCAL_SOCKET, EngineUnavailable, connect, start_local_engine

    with fail_cleanly():
        try:
            connect().close()
            out.print("a Docker engine already answers", highlight=False)
            return
        except EngineUnavailable:
            proc = start_local_engine()
    out.print(f"dockerd started (pid {proc.pid}); for other Docker clients:", highlight=False)
    out.print(f"export DOCKER_HOST=unix://{LOCAL_SOCKET}", highlight=False, soft_wrap=True)


@deploy_app.command("rollout")
def rollout(
    workspace: WorkspaceOpt = None,
    image: Annotated[str, typer.Option(help="The API image to roll out.")] = "workbench-api:latest",
    mount: Annotated[
        bool,
        typer.Option(help="Mount the workspace (embedded MLflow store); --no-mount for URLs."),
    ] = True,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE for the container.")
    ] = None,
    name: NameOpt = "workbench",
    port: PortOpt = 8000,
    timeout: TimeoutOpt = 300,
    smoke: Annotated[
        bool,
        typer.Option(
            help="Smoke-test the new container before it gets traffic: /ready, holdout "
            "predictions equal to the registered model's, p99 latency within "
            "gates.max_latency_ms_per_row (needs the workspace)."
        ),
    ] = True,
) -> None:
    """Start a new API container, smoke-test it, move HAProxy's traffic, stop the old one."""
    from core.deploy.rollout import ApiSpec
    from core.deploy.smoke import SmokeTest
    from core.errors import ConfigError

    with fail_cleanly():
        pairs = [e.partition("=") for e in env or []]
        if any(not sep or not key for key, sep, _ in pairs):
            raise ConfigError("--env takes KEY=VALUE")
        ws = open_workspace(workspace) if mount else _workspace_or_none(workspace)
        spec = ApiSpec.for_workspace(
            image, ws.root if ws is not None and mount else None, {k: v for k, _, v in pairs}
        )
        if smoke and ws is None:
            raise ConfigError("--smoke needs the workspace (-w or WORKBENCH_HOME); or --no-smoke")
        test = SmokeTest(ws) if smoke else None
        with audit_cli(ws, access.DEPLOY_ROLLOUT, name) as details:  # no workspace: no log
            details.update(image=image, port=port, smoke=smoke)
            done = _deployment(name, port).rollout(spec, _say, timeout, smoke=test)
            if done.smoke:
                details["smoke"] = done.smoke
    out.print(
        f"{done.live} serves {done.url} ({done.image}) after {done.seconds:.0f} s"
        + (f"; {done.previous} stopped, kept for rollback" if done.previous else ""),
        highlight=False,
    )


@deploy_app.command("rollback")
def rollback(
    name: NameOpt = "workbench", timeout: TimeoutOpt = 300, workspace: WorkspaceOpt = None
) -> None:
    """Switch traffic back to the previous API container.

    Recorded in the audit log of the workspace named by -w or WORKBENCH_HOME, if any.
    """
    with fail_cleanly():
        ws = _workspace_or_none(workspace)
        with audit_cli(ws, access.DEPLOY_ROLLBACK, name) as details:
            done = _deployment(name).rollback(_say, timeout)
            details["live"] = done.live
    out.print(
        f"rolled back: {done.live} serves {done.url} ({done.image}); {done.previous} stopped",
        highlight=False,
    )


@deploy_app.command("status")
def status(name: NameOpt = "workbench") -> None:
    """The entry point (HAProxy) and the API containers: status, health, image, which is live."""
    from core.deploy.engine import engine_info

    with fail_cleanly():
        deployment = _deployment(name)
        state = deployment.status()
        info = engine_info(deployment.client)
    out.print(f"Docker {info['version']} · deployment {name} · {state['url']}", highlight=False)
    table = Table("role", "status", "health", "since")
    table.add_column("container", no_wrap=True)
    table.add_column("image", overflow="fold")
    for row in ([state["entry"]] if state["entry"] else []) + state["containers"]:
        role = "entry" if row["kind"] == "entry" else ("live" if row["live"] else "previous")
        since = row["started"] if row["status"] == "running" else row["finished"]
        table.add_row(role, row["status"], row["health"], since, row["name"], row["image"])
    if not state["entry"] and not state["containers"]:
        out.print("nothing deployed yet: `workbench deploy build` then `workbench deploy rollout`")
        return
    print_table(table)
    haproxy = (state["entry"] or {}).get("state")
    if haproxy:
        servers = ", ".join(
            f"{color} {row['status']} ({row['sessions']} sessions, {row['requests']} requests)"
            for color, row in haproxy["servers"].items()
        )
        out.print(
            f"HAProxy: {servers}; 5xx answered {haproxy['responses_5xx']}, "
            f"retried {haproxy['retries']}",
            highlight=False,
        )


@deploy_app.command("logs")
def logs(
    target: Annotated[
        str, typer.Argument(help="live | entry | blue | green | a container name")
    ] = "live",
    tail: Annotated[int, typer.Option(help="Lines from the end.")] = 100,
    name: NameOpt = "workbench",
) -> None:
    """Recent log lines of a container of the deployment."""
    with fail_cleanly():
        text = _deployment(name).logs(target, tail)
    out.print(text, highlight=False, markup=False, end="")


@deploy_app.command("down")
def down(name: NameOpt = "workbench") -> None:
    """Remove the deployment's containers and network (images stay)."""
    with fail_cleanly():
        _deployment(name).remove()
    out.print(f"deployment {name} removed", highlight=False)
