"""`workbench train`: every candidate on a data version, tracked in MLflow, the best registered.

`workbench retrain --reason TEXT`: the same training, asked for now (on the running scheduler,
else in a background process); `--force` trains even when nothing is new.
"""

from __future__ import annotations

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

training_app = typer.Typer()


ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Train even when a registered version was trained on the same data version, "
        "config and code (otherwise: 'nothing new to train on', exit 0).",
    ),
]


@training_app.command()
def train(
    workspace: WorkspaceOpt = None,
    data_version: Annotated[
        str | None, typer.Option("--data-version", help="Version id, commit or md5 prefix.")
    ] = None,
    force: ForceOpt = False,
    reason: Annotated[
        str | None,
        typer.Option(
            help="Why (an asked-for retrain): recorded in the job history and the retrain "
            "decisions, as `workbench retrain` does without a scheduler.",
        ),
    ] = None,
    requested_by: Annotated[
        str | None, typer.Option(help="Who asked (with --reason).", hidden=True)
    ] = None,
) -> None:
    """Train every candidate on a data version, track in MLflow, register the best."""
    import warnings

    from rich.progress import Progress

    from core.training.duplicates import NothingNewToTrain
    from core.training.train import train as run_training

    warnings.filterwarnings("ignore", module="mlflow")
    with fail_cleanly():
        ws = open_workspace(workspace)
        if reason is not None:  # the background side of `retrain` (recorded as its asker)
            with audit_cli(ws, access.TRAIN, reason=reason, actor=requested_by) as details:
                details.update(_requested_training(ws, reason, requested_by, force))
            return
        with audit_cli(ws, access.TRAIN, data_version or "") as details:
            try:
                with Progress(console=err, transient=True) as bar:
                    task = bar.add_task("training", total=1.0)
                    result = run_training(
                        ws,
                        data_version,
                        lambda f, msg: bar.update(task, completed=f, description=msg),
                        force=force,
                    )
            except NothingNewToTrain as exc:
                details["skipped"] = str(exc)
                out.print(str(exc), highlight=False)
                return
            details.update(data_version=result.data_version, registered=_version(result))
    _print_training(result)


def _version(result) -> str | None:
    """The registered version of a training, None when none was registered."""
    return str(result.registered["version"]) if result.registered else None


def _requested_training(ws, reason: str, by: str | None, force: bool) -> dict:
    """An asked-for training (the background side of `retrain`), in the job history.

    Returns what the audit event keeps: the status, the job run and the registered version.
    """
    from core.lifecycle import requested_training
    from core.registry.promotion import default_actor

    by = by or default_actor()
    out.print(f"training asked by {by}: {reason}", highlight=False)
    summary = requested_training(
        ws, reason, by, force, lambda f, msg: out.print(f"{f:4.0%} {msg}", highlight=False)
    )
    kept = {k: summary.get(k) for k in ("status", "run_id", "version")}
    if summary["status"] == "skipped":
        out.print(summary["reason"], highlight=False)
    else:
        note = ", promoted to champion" if summary.get("promoted") else ""
        out.print(
            f"registered version {summary['version']} on data {summary['data_version']} "
            f"(gates {summary.get('gates') or 'not evaluated'}{note}); "
            f"job run {summary['run_id']}",
            highlight=False,
        )
    return kept


@training_app.command()
def retrain(
    reason: Annotated[str, typer.Option(help="Why: recorded with the run and its outcome.")],
    workspace: WorkspaceOpt = None,
    force: ForceOpt = False,
) -> None:
    """Start a training now: on the running scheduler, else in a background process."""
    from core.lifecycle import request_retrain_now
    from core.registry.promotion import default_actor

    with fail_cleanly(database="the scheduler database"):
        ws = open_workspace(workspace)
        with audit_cli(ws, access.RETRAIN, reason=reason) as details:
            started = request_retrain_now(
                ws, reason, default_actor(), force, spawn=background_training(ws)
            )
            details.update(force=force, started=started["message"])
    out.print(started["message"], highlight=False)


def background_training(ws):
    """The `spawn` of `core.lifecycle.request_retrain_now`: `workbench train --reason` detached.

    Recorded as the `train` service (`workbench down` stops it); its output goes to
    `.workbench/retrain.log`.

    Raises:
        WorkbenchError: a background training already runs.
    """
    from app.cli.processes import running, start_detached
    from app.cli.servers import workbench_argv
    from core.errors import WorkbenchError

    def spawn(reason: str, by: str, force: bool) -> str:
        busy = running(ws, "train")
        if busy is not None:
            raise WorkbenchError(
                f"a training already runs in the background (pid {busy.pid}, since "
                f"{busy.started}); wait for it to end"
            )
        log_path = ws.state / "retrain.log"
        argv = workbench_argv(
            "train", "-w", str(ws.root), "--reason", reason, "--requested-by", by
        ) + (["--force"] if force else [])
        start_detached(ws, "train", argv, log_path, log_mode="w")
        return str(log_path)

    return spawn


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
    print_table(table)
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
            f"({', '.join(reg['aliases']) or 'no alias: gates failed, no canary or shadow'}) "
            f"from run {result.final.run_id}",
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
