"""The simulated workspace: a copy (or a new flights demo) with the simulation overrides."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from core.errors import WorkbenchError
from core.workspace import CONFIG_NAME, Workspace

Echo = Callable[[str], None]


class SimulationError(WorkbenchError):
    """The simulation cannot start or go on (the message says why)."""


# --------------------------------------------------------------------------- the workspace
def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def copy_workspace(src: Path, dst: Path) -> Path:
    """Copy a workspace; its MLflow store's absolute artifact locations follow the copy."""
    shutil.copytree(src, dst, symlinks=True)
    db = dst / "mlflow.db"
    if db.is_file():
        old, new = (src / "mlartifacts").as_uri(), (dst / "mlartifacts").as_uri()
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            for table, column in (
                ("experiments", "artifact_location"),
                ("runs", "artifact_uri"),
                ("model_versions", "storage_location"),
                ("logged_models", "artifact_location"),
            ):
                with contextlib.suppress(sqlite3.OperationalError):  # older stores lack a table
                    conn.execute(
                        f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new)
                    )  # noqa: S608 - fixed table names
    for leftover in ("scheduler.db", "scheduler.db-wal", "scheduler.db-shm"):
        (dst / ".workbench" / leftover).unlink(missing_ok=True)  # a fresh job history
    return dst


def prepare(workspace: Path | None, out: Path | None, in_place: bool, echo: Echo) -> Path:
    """The workspace to simulate on: the given one, a copy of it, or a new flights demo."""
    from core.workspace.bootstrap import init_workspace

    given = Path(workspace).expanduser().resolve() if workspace else None
    if in_place:
        if given is None or not (given / CONFIG_NAME).is_file():
            raise SimulationError("--in-place needs --workspace pointing at a workspace")
        return given
    root = Path(out).expanduser().resolve() if out else Path(tempfile.mkdtemp(prefix="wb-sim-"))
    if root.exists() and any(root.iterdir()):
        raise SimulationError(f"{root} is not empty: give --out a new folder")
    if given is not None and (given / CONFIG_NAME).is_file():
        echo(f"copying {given} to {root}")
        if root.exists():
            root.rmdir()  # copytree creates it
        copy_workspace(given, root)
    else:
        echo(f"creating a flights demo workspace in {root}")
        init_workspace(root, demo="flights")
    apply_overrides(root, Workspace(root).config.schedules.simulation.overrides)
    return root


def apply_overrides(root: Path, overrides: dict) -> None:
    """Merge `overrides` into the workspace's config (validated); its own API, not `url`."""
    cfg_path = root / CONFIG_NAME
    data = _merge(yaml.safe_load(cfg_path.read_text(encoding="utf-8")), overrides)
    (data.get("serving") or {}).pop("url", None)  # the simulation runs its own API
    cfg_path.write_text(yaml.safe_dump(data, sort_keys=False))
    Workspace.open(root).config  # noqa: B018 - validate the merged config now
