"""Register the best candidate of a training.

A new model version gets alias `challenger` (and `champion` when there is none yet, recorded in
the audit log); then its gates are evaluated and, when configured, it is auto-promoted.
"""

from __future__ import annotations

import logging

from core.registry import tracking as T
from core.workspace import Workspace

log = logging.getLogger(__name__)


def register_best(ws: Workspace, run_id: str, model_uri: str, data_version: str) -> dict:
    """Create the model version from the run's logged model, set aliases, evaluate gates.

    Returns:
        `{"name", "version", "aliases", "gates": "pass"|"fail"|None, "auto_promoted": bool}`.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from core.registry import store
    from core.registry.gates import evaluate_gates
    from core.registry.promotion import default_actor, maybe_auto_promote, promote

    client = mlflow.MlflowClient()
    name = ws.config.model_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name,
            description=f"{ws.config.task} model of {ws.config.project}, target {ws.config.target}",
        )
    mv = mlflow.register_model(
        model_uri,
        name,
        tags={
            T.TAG_DATA_VERSION: data_version,
            T.TAG_TASK: ws.config.task,
            T.TAG_METRIC: ws.config.metric,
            "run_id": run_id,
        },
    )
    version = str(mv.version)
    client.set_registered_model_alias(name, T.ALIAS_CHALLENGER, version)
    _log_reference(ws, run_id, model_uri, data_version, name, version)
    summary = {
        "name": name,
        "version": version,
        "aliases": [T.ALIAS_CHALLENGER],
        "gates": None,
        "auto_promoted": False,
    }
    if store.champion_version(client, name) is None:
        record = promote(
            ws,
            version,
            "first registered model becomes champion",
            default_actor(),
            force=True,
            action="initial_champion",
        )
        summary.update(aliases=[T.ALIAS_CHAMPION], gates=_status(record.gates))
        return summary
    report = evaluate_gates(ws, name, version)
    summary["gates"] = report.status
    if maybe_auto_promote(ws, version):
        summary.update(aliases=[T.ALIAS_CHAMPION], auto_promoted=True)
    return summary


def _log_reference(
    ws: Workspace, run_id: str, model_uri: str, data_version: str, name: str, version: str
) -> None:
    """Log the version's drift reference profile; monitoring never fails a registration."""
    from core.monitoring.profiles import log_reference_profile

    try:
        log_reference_profile(
            ws, run_id, model_uri, data_version, {"model": name, "model_version": version}
        )
    except Exception as exc:  # noqa: BLE001 - `workbench drift` rebuilds a missing profile
        log.warning("reference profile of %s v%s not logged: %s", name, version, exc)


def _status(gates: list) -> str | None:
    if not gates:
        return None
    return "pass" if all(g.get("passed") for g in gates) else "fail"
