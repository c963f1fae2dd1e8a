"""The workspace: the user's data, config, stores and reports (not the code)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from core.config import WorkbenchConfig, load_config
from core.errors import WorkspaceError

CONFIG_NAME = "workbench.yaml"
DEFAULT_WORKSPACE = "workspace"


def resolve_workspace(path: str | os.PathLike | None = None) -> Path:
    """Workspace directory: the argument, else `$WORKBENCH_HOME`, else `./workspace`."""
    chosen = path or os.environ.get("WORKBENCH_HOME") or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace directory; nothing is created on construction."""

    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike | None = None) -> Workspace:
        """Open an initialised workspace or raise `WorkspaceError` saying how to create it."""
        ws = cls(resolve_workspace(path))
        if not ws.config_path.is_file():
            raise WorkspaceError(
                f"{ws.root} is not a workbench workspace (no {CONFIG_NAME}); "
                f"run `workbench init --workspace {ws.root}`"
            )
        return ws

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @cached_property
    def config(self) -> WorkbenchConfig:
        """The validated `workbench.yaml` (read once per Workspace object)."""
        return load_config(self.config_path)

    def resolve(self, path: str) -> Path:
        """A config path: absolute as given, relative to the workspace otherwise."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def landing(self) -> Path:
        return self.resolve(self.config.sources.landing.path)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def processed(self) -> Path:
        return self.data / "processed"

    @property
    def features(self) -> Path:
        return self.data / "features"

    @property
    def processed_file(self) -> Path:
        return self.processed / "processed.parquet"

    @property
    def features_file(self) -> Path:
        return self.features / "features.parquet"

    @property
    def meta_file(self) -> Path:
        """Committed with each data version: rows, batches, md5s."""
        return self.data / "version.json"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def state(self) -> Path:
        """Machine state that is not versioned: manifest, run records, alerts."""
        return self.root / ".workbench"

    @property
    def manifest_path(self) -> Path:
        return self.state / "manifest.json"

    @property
    def runs_dir(self) -> Path:
        return self.state / "runs"

    @property
    def alerts_path(self) -> Path:
        return self.state / "alerts.jsonl"

    @property
    def legacy_promotions_path(self) -> Path:
        """The promotion history of workspaces made before the one audit log (read only)."""
        return self.root / "audit" / "promotions.jsonl"

    @property
    def predictions_dir(self) -> Path:
        """Prediction log (Parquet parts) and feedback."""
        return self.root / "predictions"

    @property
    def artifacts(self) -> Path:
        """MLflow artifact root on the embedded default."""
        return self.root / "mlartifacts"

    @property
    def holdback(self) -> Path:
        """Demo files not yet arrived in the landing zone."""
        return self.root / ".demo" / "holdback"

    @property
    def mlflow_db(self) -> Path:
        """The embedded MLflow store (SQLite) used when no `WORKBENCH_TRACKING_URI` is set."""
        return self.root / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: `WORKBENCH_TRACKING_URI` (scale path) or the workspace's SQLite.

        Deliberately not `MLFLOW_TRACKING_URI`: `mlflow.set_tracking_uri` exports that variable,
        which would leak one workspace's store into the next in the same process or its children.
        """
        return os.environ.get("WORKBENCH_TRACKING_URI") or f"sqlite:///{self.mlflow_db}"
