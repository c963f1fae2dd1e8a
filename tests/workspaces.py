"""Test helpers for workspaces: quick training budgets and safe copies of trained stores."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.workspace import Workspace

QUICK_TRAINING = {"budget": {"trials": 1, "seconds": 30}, "cv_folds": 2}
LENIENT_GATES = {"beat_champion": {"min_delta": -1.0}, "no_overfitting": False}
"""Gates a naive Bayes challenger of the demo passes (only passing versions get `challenger`)."""


def set_training(root: Path, **training) -> Workspace:
    """Rewrite the workspace's `training` section (quick budgets for tests)."""
    import yaml

    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["training"] = {**QUICK_TRAINING, **training}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Workspace.open(root)


def set_gates(root: Path, gates: dict) -> Workspace:
    """Rewrite the workspace's `gates` section."""
    import yaml

    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["gates"] = gates
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Workspace.open(root)


def copy_workspace(src: Path, dst: Path) -> Path:
    """Copy a trained workspace, pointing its MLflow store at the copy's artifact folder.

    The SQLite store and artifact folder live inside the workspace, and the experiment's
    artifact location is absolute, so the copy rewrites it to the copy's own folder.
    """
    import sqlite3

    shutil.copytree(src, dst, symlinks=True)
    old, new = (src / "mlartifacts").as_uri(), (dst / "mlartifacts").as_uri()
    with sqlite3.connect(dst / "mlflow.db") as conn:
        for table, column in (
            ("experiments", "artifact_location"),
            ("runs", "artifact_uri"),
            ("model_versions", "storage_location"),
            ("logged_models", "artifact_location"),
        ):
            conn.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new))
    return dst
