"""Shared fixtures: demo workspaces built once per session and copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.bootstrap import init_workspace
from core.workspace import Workspace

DEMO_INITIAL = 3
DEMO_HELD_BACK = 4


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """An initialised flights demo workspace: 3 days landed, 4 held back, no run yet."""
    root = tmp_path_factory.mktemp("template") / "ws"
    init_workspace(root, demo="flights", initial=DEMO_INITIAL)
    for extra in sorted((root / ".demo" / "holdback").iterdir())[DEMO_HELD_BACK:]:
        extra.unlink()
    return root


@pytest.fixture
def demo_ws(demo_template, tmp_path) -> Workspace:
    """A private copy of the demo workspace (real git + DVC repo, local remote)."""
    root = tmp_path / "ws"
    shutil.copytree(demo_template, root, symlinks=True)
    return Workspace.open(root)


@pytest.fixture(scope="session")
def versioned_template(demo_template, tmp_path_factory) -> Path:
    """The demo workspace after one successful pipeline run."""
    from core.data.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("versioned") / "ws"
    shutil.copytree(demo_template, root, symlinks=True)
    result = run_pipeline(Workspace.open(root))
    assert result.status == "ok", result.message
    return root


@pytest.fixture
def versioned_ws(versioned_template, tmp_path) -> Workspace:
    """A private copy of a workspace that already has one data version."""
    root = tmp_path / "ws"
    shutil.copytree(versioned_template, root, symlinks=True)
    return Workspace.open(root)
