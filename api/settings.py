"""Runtime settings of the prediction API: the `serving:` section plus what the process needs.

`ServeSettings` is `core.config.serving.ServingConfig` (every tunable, documented there) with
the model to serve, the stores, and process-only switches. No environment reads at import.
"""

from __future__ import annotations

from pathlib import Path

from core.config.serving import ServingConfig
from core.workspace import Workspace


class ServeSettings(ServingConfig):
    """Everything `create_app` needs; built by `from_workspace` or directly in tests."""

    model_name: str
    """Registered model to serve (alias `champion`, and `challenger` for canary/shadow)."""
    tracking_uri: str
    """MLflow tracking + registry URI."""
    workspace: Path | None = None
    """Workspace root: its latest drift/performance check is exported at /metrics."""
    predictions_dir: Path | None = None
    """Prediction log folder (Parquet parts); None (and no URL) disables the log."""
    freeze_heap: bool = False
    """Keep what is alive after a model load out of the garbage collector's full passes
    (`gc.freeze`): on for the server process (`api.main`), off where tests build many apps in
    one process."""

    @property
    def prediction_log_destination(self) -> Path | str | None:
        """Where `create_app` logs predictions: the URL, else the folder, else nowhere."""
        return self.prediction_log_url or self.predictions_dir

    @classmethod
    def from_workspace(cls, ws: Workspace, **overrides) -> ServeSettings:
        """Settings from the workspace's `serving:` section, the environment, then overrides.

        The environment is applied by `ServingConfig.resolved` (keys added, admin key and log
        URL replaced).
        """
        serving = ws.config.serving.resolved().model_dump()
        base = {
            "model_name": ws.config.model_name,
            "tracking_uri": ws.tracking_uri,
            "workspace": ws.root,
            "predictions_dir": ws.predictions_dir,
        }
        return cls(**(serving | base | overrides))
