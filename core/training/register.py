"""Register the best candidate: a new model version with alias `challenger`, and `champion`
when there is none yet; then gates (and auto-promote when configured)."""

from __future__ import annotations

import logging

from core import tracking as T
from core.workspace import Workspace

log = logging.getLogger(__name__)


def register_best(ws: Workspace, run_id: str, model_uri: str, data_version: str) -> dict:
    """Create the model version from the run's logged model and set aliases; returns a summary."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    name = ws.config.model_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"{ws.config.task} model of "
                                       f"{ws.config.project}, target {ws.config.target}")
    mv = mlflow.register_model(model_uri, name, tags={
        T.TAG_DATA_VERSION: data_version, T.TAG_TASK: ws.config.task,
        T.TAG_METRIC: ws.config.metric, "run_id": run_id})
    version = str(mv.version)
    client.set_registered_model_alias(name, T.ALIAS_CHALLENGER, version)
    summary = {"name": name, "version": version, "aliases": [T.ALIAS_CHALLENGER]}
    try:
        client.get_model_version_by_alias(name, T.ALIAS_CHAMPION)
    except MlflowException:
        _first_champion(ws, version)
        summary["aliases"].append(T.ALIAS_CHAMPION)
    return summary


def _first_champion(ws: Workspace, version: str) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    client.set_registered_model_alias(ws.config.model_name, T.ALIAS_CHAMPION, version)
    client.delete_registered_model_alias(ws.config.model_name, T.ALIAS_CHALLENGER)
