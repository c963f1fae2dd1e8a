"""`workbench lineage NAME [VERSION]`: a model version back to its data and forward to its use."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import WorkspaceOpt, fail_cleanly, open_workspace, print_json

lineage_app = typer.Typer()


@lineage_app.command("lineage")
def lineage_cmd(
    name: Annotated[str, typer.Argument(help="Registered model name (the workspace's project).")],
    version: Annotated[
        str | None, typer.Argument(help="Model version number [default: the champion].")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole graph: nodes, edges, notes.")
    ] = False,
) -> None:
    """Follow a version back to its data and forward to what it served (default: champion).

    Back: its run, data version, batches and their reports; forward: its promotions, API
    instances, predictions per day and incidents.

    One hop per line, its kind first (`workbench lineage NAME | grep ^batch`); `--json` prints
    the graph (`nodes` with `id`, `kind`, `label`, `attrs`, `link`; `edges` with `source`,
    `target`, `relation`; `notes`: hops that could not be followed).
    """
    from core.lineage import build_lineage, text_lines

    with fail_cleanly():
        ws = open_workspace(workspace)
        lineage = build_lineage(ws, name, version)
    if as_json:
        print_json(lineage.to_dict())
        return
    for line in text_lines(lineage):  # plain lines: never wrapped, so grep sees whole hops
        typer.echo(line)
