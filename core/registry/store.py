"""Thin access to the MLflow model registry of a workspace (versions, aliases, runs, models)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ModelNotFound
from core.registry.tracking import ALIAS_CHAMPION, configure_mlflow
from core.workspace import Workspace

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

_MISSING = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def registry_client(ws: Workspace) -> MlflowClient:
    """A client on the workspace's tracking/registry store (also points `mlflow` at it)."""
    from mlflow import MlflowClient

    configure_mlflow(ws.tracking_uri)
    return MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)


def model_uri(name: str, version: str | int) -> str:
    """The registry URI of one model version."""
    return f"models:/{name}/{version}"


def get_version(client: MlflowClient, name: str, version: str | int) -> ModelVersion:
    """One model version, or `ModelNotFound` with a one-line message."""
    from mlflow.exceptions import MlflowException

    v = str(version).strip()
    if not v.isdigit():
        raise ModelNotFound(f"model version must be a number, got {version!r}")
    try:
        return client.get_model_version(name, v)
    except MlflowException as exc:
        if exc.error_code not in _MISSING:
            raise
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        raise ModelNotFound(f"no registered model '{name}' yet: run `workbench train` first")
    raise ModelNotFound(f"model '{name}' has no version {v} (see `workbench models list`)")


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """Alias → version of a registered model (empty when the model is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code in _MISSING:
            return {}
        raise
    return {alias: str(v) for alias, v in model.aliases.items()}


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version an alias points to, or None."""
    return aliases(client, name).get(alias)


def champion_version(client: MlflowClient, name: str) -> str | None:
    """The version holding the `champion` alias, or None."""
    return alias_version(client, name, ALIAS_CHAMPION)


def champion(ws: Workspace) -> ModelVersion | None:
    """The workspace model's version holding the `champion` alias, or None when there is none.

    The one champion lookup: an empty workspace (no embedded store yet, no registered model,
    no alias) answers None without creating a store.
    """
    if ws.tracking_uri.startswith("sqlite:") and not ws.mlflow_db.is_file():
        return None
    client = registry_client(ws)
    version = champion_version(client, ws.config.model_name)
    return None if version is None else client.get_model_version(ws.config.model_name, version)


def version_run_id(mv: ModelVersion) -> str | None:
    """The run that produced a version (its `run_id`, else the `run_id` version tag)."""
    return mv.run_id or (mv.tags or {}).get("run_id") or None


def run_data(client: MlflowClient, run_id: str | None) -> tuple[dict[str, str], dict[str, float]]:
    """Tags and metrics of the run that produced a version (empty when the run is gone)."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return {}, {}
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return {}, {}
    return dict(run.data.tags), dict(run.data.metrics)


def load_model(name: str, version: str | int):
    """The sklearn pipeline of a model version (predict / predict_proba)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(model_uri(name, version))


def input_schema(name: str, version: str | int) -> dict[str, str] | None:
    """Input column → type from the version's signature; None when it has no signature."""
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri(name, version)).signature
    if signature is None or signature.inputs is None:
        return None
    cols = signature.inputs.to_dict()
    return {str(c.get("name") or f"#{i}"): str(c.get("type")) for i, c in enumerate(cols)}
