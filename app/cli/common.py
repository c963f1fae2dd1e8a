"""What every `workbench` command shares: consoles, options, the one error wrapper, output.

Command modules import from here (top-down); nothing here imports a command module or the
`app.cli` package, so there is no import cycle.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.measure import Measurement

from core.errors import WorkbenchError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.table import Table

    from core.workspace import Workspace

out = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar="WORKBENCH_HOME",
        help="Workspace directory \\[default: ./workspace].",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the rows as JSON (stable keys, see the README)."),
]
SCHEDULER_DB = "the scheduler database"
"""`fail_cleanly(SCHEDULER_DB)`: how a failing job store is named in the one error line."""
_UNBOUNDED = 100_000  # columns: wider than any table, so measuring never shrinks a cell


@contextlib.contextmanager
def fail_cleanly(database: str | None = None) -> Iterator[None]:
    """Turn a domain error into one line on stderr and exit code 1 (never a traceback).

    Args:
        database: What to call a database that fails with a SQLAlchemy error (e.g. "the
            scheduler database"); such errors then become one line too. None: they propagate.
    """
    try:
        yield
    except WorkbenchError as exc:
        fail(str(exc))
    except Exception as exc:
        sa = sys.modules.get("sqlalchemy")  # never imported just to be checked
        if database is None or sa is None or not isinstance(exc, sa.exc.SQLAlchemyError):
            raise
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"{database} cannot be used: {reason}")


@contextlib.contextmanager
def audit_cli(
    ws: Workspace | None,
    action: str,
    target: str = "",
    reason: str | None = None,
    actor: str | None = None,
    record_ok: bool = True,
) -> Iterator[dict]:
    """Record the block in the workspace's audit log as the OS user, source `cli`.

    Used inside `fail_cleanly`, around the command's work: the event says `ok`, or `failed`
    with the error's one line (the error then goes on to `fail_cleanly`). Yields a dict the
    block may fill with details (never a secret).

    Args:
        ws: the workspace whose log records the event; None (`deploy rollout --no-mount`):
            there is no log to record in, the block runs unrecorded.
        action: a `core.access` action (what the roles table calls it).
        target: what it is done to ("" when the workspace).
        reason: why, when the command takes one.
        actor: who acts (None: the OS user).
        record_ok: False when the work records its own success (promotions and rollbacks,
            through the registry): then only a failure is recorded here.
    """
    from core.audit import audited
    from core.registry.promotion import default_actor

    if ws is None:
        yield {}
        return
    who = actor or default_actor()
    with audited(ws, who, action, target, reason or "", "cli", record_ok) as details:
        yield details


def fail(message: str) -> None:
    """Print `error: message` on stderr and exit 1."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1) from None


def open_workspace(workspace: Path | None, migrate: bool = True) -> Workspace:
    """The workspace at `workspace` (or the default), its config validated now.

    Validating here makes a config error name the file and key before any work starts.

    Args:
        workspace: The workspace folder (None: `WORKBENCH_HOME`, else `./workspace`).
        migrate: Move literal API keys out of `workbench.yaml` into the key store and
            `.workbench/secrets.json` (one line on stderr says so). `workbench serve` passes
            False: the API never rewrites files and accepts the literals as they are.
    """
    from core.workspace import Workspace

    ws = Workspace.open(workspace)
    ws.config  # noqa: B018 - validate the config now so errors name the file and key
    if migrate:
        ws = migrate_keys(ws)
    return ws


def migrate_keys(ws: Workspace) -> Workspace:
    """`ws` after moving literal keys out of its config (`migrate_literal_keys`), re-opened."""
    from core.workspace import Workspace
    from core.workspace.bootstrap import migrate_literal_keys

    if not (ws.config.serving.api_keys or ws.config.serving.admin_key):
        return ws
    message = migrate_literal_keys(ws.root)
    if message:
        err.print(f"[yellow]note:[/yellow] {message}", highlight=False, soft_wrap=True)
    return Workspace.open(ws.root)


def print_table(table: Table) -> None:
    """Print `table` on `out`: fitted to a terminal, whole rows when piped or redirected.

    rich shrinks a table to the console width and cuts cells ("data_pi…"); when stdout is not
    a terminal (a pipe, a file, a test runner) no column wraps and the table is rendered as
    wide as its longest row, so `workbench jobs list | grep data_pipeline` finds the row.
    """
    if out.is_terminal:
        out.print(table)
        return
    for column in table.columns:
        column.no_wrap = True
    options = out.options.update_width(_UNBOUNDED)
    needed = Measurement.get(out, options, table).maximum
    before = out._width  # None: follow $COLUMNS or the terminal
    out.width = max(needed, out.width)
    try:
        out.print(table)
    finally:
        out._width = before


def print_json(data: object) -> None:
    """Print `data` as indented JSON on stdout (no markup, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def pick(row: dict, keys: tuple[str, ...]) -> dict:
    """`row` reduced to `keys` (missing ones as None): the stable keys of a `--json` row."""
    return {key: row.get(key) for key in keys}
