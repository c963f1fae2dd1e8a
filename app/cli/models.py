"""`workbench models ...`: list versions, evaluate gates, promote, roll back, history, cards."""

from __future__ import annotations

import sys
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
    pick,
    print_json,
    print_table,
)
from core import access
from core.errors import ModelNotFound, WorkbenchError

models_app = typer.Typer(
    help="Registered models: gates, promotion, rollback, audit history, model cards.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Registered model name (the workspace's project).")]
VersionArg = Annotated[str, typer.Argument(help="Model version number.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (stored in the audit log).")]
LIST_KEYS = (
    "version",
    "aliases",
    "created",
    "data_version",
    "gates",
    "metric",
    "test_metric",
    "candidate",
    "run_id",
    "promoted_by",
    "promoted_at",
)
HISTORY_KEYS = (
    "id",
    "time",
    "action",
    "model",
    "from_version",
    "to_version",
    "actor",
    "forced",
    "reason",
    "gates",
    "metrics",
)


def _open_model(workspace, name: str | None):
    """The workspace, after checking that `name` is its registered model."""
    ws = open_workspace(workspace)
    expected = ws.config.model_name
    if name is not None and name != expected:
        raise ModelNotFound(f"unknown model '{name}': this workspace's model is '{expected}'")
    return ws


def _show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items() if v not in (None, [], {}))
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    return str(value)


@models_app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List the versions of the workspace's model: aliases, gates, test metric."""
    from core.registry.promotion import list_models

    with fail_cleanly():
        ws = _open_model(workspace, None)
        rows = list_models(ws)
    if as_json:
        print_json([pick(r, LIST_KEYS) for r in rows])
        return
    name = ws.config.model_name
    if not rows:
        out.print(f"no registered versions of {name} yet: run `workbench train`", highlight=False)
        return
    table = Table(
        "version",
        "aliases",
        "created",
        "data version",
        "gates",
        f"test {ws.config.metric}",
        "promoted by",
        title=name,
    )
    for r in rows:
        colour = {"pass": "green", "fail": "red"}.get(r["gates"], "yellow")
        table.add_row(
            r["version"],
            ", ".join(r["aliases"]),
            (r["created"] or "")[:16].replace("T", " "),
            r["data_version"] or "",
            f"[{colour}]{r['gates']}[/{colour}]",
            _show(r["test_metric"]),
            r["promoted_by"] or "",
        )
    print_table(table)


@models_app.command("gates")
def gates_cmd(name: NameArg, version: VersionArg, workspace: WorkspaceOpt = None) -> None:
    """(Re)evaluate the promotion gates of a version against the champion and print them."""
    from core.registry.gates import evaluate_gates

    with fail_cleanly():
        ws = _open_model(workspace, name)
        with audit_cli(ws, access.EVALUATE_GATES, f"{name} v{version}") as details:
            report = evaluate_gates(ws, name, version)
            details["status"] = report.status
    table = Table("gate", "result", "observed", "threshold", "reason")
    for g in report.gates:
        mark = "[green]pass[/green]" if g.passed else "[red]fail[/red]"
        table.add_row(g.name, mark, _show(g.observed), _show(g.threshold), g.reason)
    print_table(table)
    against = f"champion v{report.champion_version}" if report.champion_version else "no champion"
    out.print(
        f"{name} v{report.version}: gates {report.status} (vs {against}, holdout of "
        f"{report.data_version}, {report.holdout_rows} rows)",
        highlight=False,
    )
    if not report.passed:
        raise typer.Exit(1)


@models_app.command("promote")
def promote_cmd(
    name: NameArg,
    version: VersionArg,
    reason: ReasonOpt,
    force: Annotated[
        bool,
        typer.Option("--force", help="Promote despite failed gates (recorded in the audit log)."),
    ] = False,
    actor: Annotated[str | None, typer.Option(help="Who promotes (default: the OS user).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Make a version the champion (refused when a gate failed, unless --force)."""
    from core.registry.promotion import default_actor, promote

    with fail_cleanly():
        ws = _open_model(workspace, name)
        # a promotion records itself (the registry); a refused or failed one is recorded here
        with audit_cli(ws, access.PROMOTE, f"{name} v{version}", reason, actor, record_ok=False):
            record = promote(ws, version, reason, actor or default_actor(), force=force)
    was = f"was v{record.from_version}" if record.from_version else "first champion"
    out.print(
        f"{name} v{record.to_version} is now champion ({was}); recorded by {record.actor}",
        highlight=False,
    )
    if record.forced:
        failed = [g["name"] for g in record.gates if not g.get("passed")]
        err.print(
            f"[yellow]forced past failed gate(s): {', '.join(failed)}[/yellow]", highlight=False
        )


@models_app.command("rollback")
def rollback_cmd(
    name: NameArg,
    reason: ReasonOpt,
    actor: Annotated[
        str | None, typer.Option(help="Who rolls back (default: the OS user).")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation on a terminal.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say where the rollback would go.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Return the champion before the current one (a second rollback goes one further back).

    Prints where the rollback goes first; on a terminal it asks before moving the alias.
    """
    from core.registry.promotion import default_actor, planned_rollback, rollback

    with fail_cleanly():
        ws = _open_model(workspace, name)
        current, target = planned_rollback(ws)
    out.print(f"rolls back {name} v{current} -> v{target}", highlight=False)
    if dry_run:
        return
    if not yes and sys.stdin.isatty():
        typer.confirm("Roll back?", abort=True)
    with (
        fail_cleanly(),
        audit_cli(ws, access.ROLLBACK, f"{name} v{current}", reason, actor, record_ok=False),
    ):
        record = rollback(ws, reason, actor or default_actor())
    out.print(
        f"{name} v{record.to_version} is champion again (was v{record.from_version}); "
        f"recorded by {record.actor}",
        highlight=False,
    )


@models_app.command("history")
def history_cmd(name: NameArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show the promotion / rollback audit log of the model, newest first."""
    from core.registry.audit import read_audit

    with fail_cleanly():
        ws = _open_model(workspace, name)
        records = read_audit(ws, name)
    if as_json:
        print_json([pick(r, HISTORY_KEYS) for r in records])
        return
    if not records:
        out.print(f"no promotions of {name} yet", highlight=False)
        return
    table = Table("time", "action", "from", "to", "actor", "forced", "reason")
    for r in records:
        table.add_row(
            r["time"],
            r["action"],
            str(r.get("from_version") or ""),
            str(r["to_version"]),
            r["actor"],
            "yes" if r.get("forced") else "",
            r["reason"],
        )
    print_table(table)


@models_app.command("card")
def card_cmd(
    name: NameArg,
    version: Annotated[
        str | None, typer.Argument(help="Model version number (default: the champion).")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the card as one HTML page to this file."),
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Write the card again first (scores the holdout: seconds)."),
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print a version's model card (Markdown): intended use, data, metrics, slices, history."""
    from core.registry import store
    from core.registry.card import read_card, write_card

    with fail_cleanly():
        ws = _open_model(workspace, name)
        if version is None:
            champion = store.champion(ws)
            if champion is None:
                raise ModelNotFound(f"{name} has no champion: name a version (`models list`)")
            version = str(champion.version)
        if refresh:
            with audit_cli(ws, access.WRITE_REPORTS, f"{name} v{version} model card"):
                write_card(ws, version)
        text = read_card(ws, version, "md")
        if html is not None:
            _write_html(html, read_card(ws, version, "html"))
    sys.stdout.write(text)
    if html is not None:
        err.print(f"wrote {html}", highlight=False)


def _write_html(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise WorkbenchError(f"--html {path}: cannot write it: {exc.strerror or exc}") from None
