"""The `workbench` command line: the composition root for every runtime.

This module only builds the root `app` and registers each command group; the commands live in
one module per group and share `app.cli.common`. Imports go one way: this package imports its
modules, they never import it back.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from app.cli.data import data_app, demo_app, workspace_app
from app.cli.deploy import deploy_app
from app.cli.jobs import jobs_app
from app.cli.keys import keys_app
from app.cli.lineage import lineage_app
from app.cli.models import models_app
from app.cli.monitoring import monitoring_app
from app.cli.scheduler import scheduler_app
from app.cli.servers import servers_app
from app.cli.training import training_app

app = typer.Typer(
    help="MLOps workbench: data, experiments, promotion, serving, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show log records.")] = False,
) -> None:
    """MLOps workbench: data, experiments, promotion, serving, monitoring."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# Groups without a name put their commands at the top level (`workbench init`, `drift`, ...).
app.add_typer(workspace_app)
app.add_typer(training_app)
app.add_typer(servers_app)
app.add_typer(data_app, name="data")
app.add_typer(demo_app, name="demo")
app.add_typer(models_app, name="models")
app.add_typer(monitoring_app)
app.add_typer(scheduler_app)
app.add_typer(jobs_app, name="jobs")
app.add_typer(deploy_app, name="deploy")
app.add_typer(keys_app, name="keys")
app.add_typer(lineage_app)
