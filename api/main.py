"""Process entry for uvicorn (`factory=True`): settings from the workspace in the environment."""

from __future__ import annotations

import os

from litestar import Litestar

from api.app import create_app
from api.settings import ServeSettings
from core.workspace import Workspace


def app_from_env() -> Litestar:
    """The app for `WORKBENCH_HOME` (and `WORKBENCH_POLL_SECONDS` etc. via the serving config)."""
    ws = Workspace.open(os.environ.get("WORKBENCH_HOME"))
    overrides: dict = {"freeze_heap": True}  # one app per process: see `api.app._settle_heap`
    if os.environ.get("WORKBENCH_POLL_SECONDS"):
        overrides["poll_seconds"] = float(os.environ["WORKBENCH_POLL_SECONDS"])
    return create_app(ServeSettings.from_workspace(ws, **overrides))
