"""`workbench keys ...`: named API keys (create prints the key once; list; revoke).

The store is `.workbench/api_keys.json` (hashes only, mode 0600, git-ignored); a running API
sees a new or revoked key within `serving.poll_seconds`, without a restart.
"""

from __future__ import annotations

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
from core.serving import keys

keys_app = typer.Typer(help="Named API keys: create, list, revoke.", no_args_is_help=True)

LIST_KEYS = ("name", "role", "status", "created", "last_used", "expires", "revoked")
"""The stable keys of a `workbench keys list --json` row (never the hash)."""
NameArg = Annotated[str, typer.Argument(help="The key's name (a client, e.g. mobile-app).")]


@keys_app.command("create")
def create(
    name: NameArg,
    role: Annotated[
        str, typer.Option("--role", help=f"One of {', '.join(keys.ROLES)}.")
    ] = "predict",
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime, e.g. 30d, 12h (default: none).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    with fail_cleanly():
        ws = open_workspace(workspace)
        with audit_cli(ws, access.MANAGE_API_KEYS, name) as details:
            details.update(change="create", role=role, expires=expires)  # never the key
            lifetime = keys.parse_duration(expires) if expires else None
            key = keys.create(ws.root, name, role, lifetime)
    typer.echo(key)
    err.print(
        f"Key {name!r} ({role}) created. It is not stored (only its hash): copy it now; "
        "a running API accepts it within serving.poll_seconds.",
        highlight=False,
        soft_wrap=True,
    )


@keys_app.command("list")
def list_keys(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every key: name, role, status, created, last used, expiry (never the key or its hash)."""
    with fail_cleanly():
        ws = open_workspace(workspace)
        rows = [
            pick({**vars(k), "status": k.status()}, LIST_KEYS)
            for k in keys.load(keys.store_path(ws.root))
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No API keys. Create one: workbench keys create NAME")
        return
    table = Table("name", "role", "status", "created", "last used", "expires")
    for r in rows:
        cells = (r["name"], r["role"], r["status"], r["created"], r["last_used"], r["expires"])
        table.add_row(*(c or "-" for c in cells))
    print_table(table)


@keys_app.command("revoke")
def revoke(name: NameArg, workspace: WorkspaceOpt = None) -> None:
    """Revoke a key: a running API refuses it within serving.poll_seconds."""
    with fail_cleanly():
        ws = open_workspace(workspace)
        with audit_cli(ws, access.MANAGE_API_KEYS, name) as details:
            details["change"] = "revoke"
            keys.revoke(ws.root, name)
    out.print(f"Revoked {name!r}: the API refuses it within serving.poll_seconds.")
