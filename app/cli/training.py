"""`workbench train`: every candidate on a data version, tracked in MLflow, the best registered."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import WorkspaceOpt, err, fail_cleanly, open_workspace, out, print_table

training_app = typer.Typer()


@training_app.command()
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
    with fail_cleanly():
        ws = open_workspace(workspace)
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
