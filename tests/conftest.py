"""Shared fixtures: demo workspaces built once per session and copied per test."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from postgres import PostgresUnavailable, throwaway_cluster
from workspaces import LENIENT_GATES, copy_workspace, set_gates, set_training

from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

DEMO_INITIAL = 3
DEMO_HELD_BACK = 4


@pytest.fixture(autouse=True)
def _forget_mlflow_uris():
    """Reset MLflow's process-global tracking and registry URIs after each test.

    `core.registry.tracking.configure_mlflow` sets both (and exports `MLFLOW_TRACKING_URI` and
    `MLFLOW_REGISTRY_URI`); a client built later without explicit URIs would otherwise talk to
    the store of a test that has finished.
    """
    yield
    if "mlflow" in sys.modules:  # never import mlflow just to reset it
        import mlflow

        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        # Artifact repositories are cached per run id; a copied workspace keeps its template's
        # run ids, so a cached repository would send the copy's artifacts to the template.
        from mlflow.tracking._tracking_service import utils

        getattr(utils, "_artifact_repos_cache", {}).clear()
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(var, None)


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


@pytest.fixture(scope="session")
def trained_template(versioned_template, tmp_path_factory) -> Path:
    """The versioned demo workspace after one quick training (champion = version 1)."""
    from core.training.train import train

    root = tmp_path_factory.mktemp("trained") / "ws"
    shutil.copytree(versioned_template, root, symlinks=True)
    ws = set_training(root, candidates=["logistic_regression", "lightgbm"])
    train(ws)
    return root


@pytest.fixture
def trained_ws(trained_template, tmp_path) -> Workspace:
    """A private copy of a workspace with a trained, registered champion."""
    return Workspace.open(copy_workspace(trained_template, tmp_path / "ws"))


@pytest.fixture(scope="session")
def two_versions_template(trained_template, tmp_path_factory) -> Path:
    """The trained workspace plus version 2 (naive Bayes, the challenger); v1 stays champion.

    Lenient gates let v2 pass them: only a gate-passing version gets the `challenger` alias.
    """
    from core.training.train import train

    root = copy_workspace(trained_template, tmp_path_factory.mktemp("two-versions") / "ws")
    set_gates(root, LENIENT_GATES)
    result = train(set_training(root, candidates=["naive_bayes"]))
    assert result.registered["aliases"] == ["challenger"], result.registered
    return root


@pytest.fixture(scope="session")
def pg_cluster():
    """A private PostgreSQL cluster for the session (`tests/postgres.py`); fails, never skips,
    when PostgreSQL is not installed (`make system-deps` installs it)."""
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """SQLAlchemy URL of the session's PostgreSQL, with the prediction log tables dropped."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_cluster.url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS predictions, prediction_feedback"))
    engine.dispose()
    return pg_cluster.url
