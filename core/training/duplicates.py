"""No duplicate versions: a training on what an existing version was trained on is refused.

Same data version, same config (`config_hash`) and same code (`code_version`) give the same
model (the seed is part of the config), so a second registration would only add a copy. The
data version is a tag of each model version; config and code are tags of the run that produced
it. `workbench train --force` (and the scheduler's `force`) train anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import WorkbenchError
from core.registry import tracking as T
from core.workspace import Workspace


@dataclass(frozen=True)
class TrainedOn:
    """What a training would be trained on: data version, config hash, code version."""

    data_version: str
    config_hash: str
    code_version: str


class NothingNewToTrain(WorkbenchError):
    """An existing version was trained on the same data version, config and code."""

    def __init__(self, name: str, version: str, on: TrainedOn) -> None:
        super().__init__(
            f"nothing new to train on: {name} v{version} was trained on data {on.data_version} "
            "with the same training config and code (use --force to train anyway)"
        )
        self.name, self.version, self.on = name, version, on


def trained_on(ws: Workspace, data_version: str) -> TrainedOn:
    """What a training of `data_version` now would be tagged with."""
    from core.training.code_version import code_version
    from core.training.tracker import config_hash

    return TrainedOn(data_version, config_hash(ws), code_version())


def duplicate_of(ws: Workspace, on: TrainedOn) -> str | None:
    """The newest registered version trained on exactly `on`, or None (read-only)."""
    from mlflow.exceptions import MlflowException

    from core.registry import store

    if ws.tracking_uri.startswith("sqlite:") and not ws.mlflow_db.is_file():
        return None  # never create an empty store just to find nothing in it
    client = store.registry_client(ws)
    name = ws.config.model_name
    try:
        versions = client.search_model_versions(
            f"name = '{name}' and tag.{T.TAG_DATA_VERSION} = '{on.data_version}'"
        )
    except MlflowException:
        return None
    for mv in sorted(versions, key=lambda v: -int(v.version)):
        tags, _ = store.run_data(client, store.version_run_id(mv))
        if (
            tags.get(T.TAG_CONFIG_HASH) == on.config_hash
            and tags.get(T.TAG_CODE_VERSION) == on.code_version
        ):
            return str(mv.version)
    return None


def refuse_duplicate(ws: Workspace, data_version: str) -> None:
    """Raise `NothingNewToTrain` when a version was trained on the same data, config and code."""
    on = trained_on(ws, data_version)
    version = duplicate_of(ws, on)
    if version is not None:
        raise NothingNewToTrain(ws.config.model_name, version, on)
