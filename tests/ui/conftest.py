"""UI fixtures: one demo workspace with two data versions and a quarantined batch.

The workspace is built once per session and treated as read-only; a test that runs the
pipeline gets a private copy (`ui_ws_copy`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from ui_helpers import BAD_FILE, log_candidates

from core.data.pipeline import run_pipeline
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace
from core.workspace.demo import drip


@pytest.fixture(scope="session")
def ui_ws(tmp_path_factory) -> Path:
    """Flights demo: 3 days as version 1, then 1 more day as version 2 plus a bad batch."""
    root = tmp_path_factory.mktemp("ui") / "ws"
    init_workspace(root, demo="flights", initial=3)
    first = run_pipeline(Workspace.open(root))
    assert first.status == "ok", first.message
    drip(root, 1)
    bad = pd.read_csv(sorted((root / ".demo" / "holdback").iterdir())[0])
    bad["carrier"] = None  # a required column blanked: fails raw validation
    bad.to_csv(root / "landing" / BAD_FILE, index=False)
    second = run_pipeline(Workspace.open(root))
    assert second.status == "partial", second.message
    return root


@pytest.fixture
def ui_env(ui_ws, monkeypatch) -> Path:
    """Point the UI at the shared demo workspace."""
    monkeypatch.setenv("WORKBENCH_HOME", str(ui_ws))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return ui_ws


@pytest.fixture
def ui_ws_copy(ui_ws, tmp_path, monkeypatch) -> Path:
    """A private copy of the demo workspace, for tests that run the pipeline."""
    root = tmp_path / "ws"
    shutil.copytree(ui_ws, root, symlinks=True)
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root


@pytest.fixture(scope="session")
def exp_ws(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A one-day flights workspace with 3 candidate runs (ids by `name@data_version`)."""
    root = tmp_path_factory.mktemp("experiments") / "ws"
    init_workspace(root, demo="flights", initial=1)
    return root, log_candidates(root)
