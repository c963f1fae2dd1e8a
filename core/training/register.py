"""Register the best candidate of a training.

The first version of a model becomes `champion` (recorded in the audit log as
`initial_champion`). A later one has its gates evaluated against the champion first: when they
pass it takes the `challenger` alias (the only version canary and shadow traffic reach) and, when
configured, is auto-promoted; when they fail it keeps its gate report (`gates.status`,
`gates.json`) and no alias, and the previous challenger keeps the alias.
"""

from __future__ import annotations

import logging

from core.registry import tracking as T
from core.workspace import Workspace

log = logging.getLogger(__name__)


def _log_compiled(client, run_id: str, model_uri: str) -> None:
    """Compile a LightGBM estimator once, beside the model (the API loads it, never compiles)."""
    import mlflow

    from core.serving.compiled import lightgbm_estimator, log_compiled

    try:
        model = mlflow.sklearn.load_model(model_uri)
    except Exception as exc:  # noqa: BLE001 - never fail a registration: the booster serves
        log.warning("trees not compiled: the model did not load: %s", exc)
        return
    if lightgbm_estimator(model.steps[-1][1] if hasattr(model, "steps") else model):
        log_compiled(client, run_id, model)


def register_best(ws: Workspace, run_id: str, model_uri: str, data_version: str) -> dict:
    """Create the model version from the run's logged model, evaluate its gates, set aliases.

    Returns:
        `{"name", "version", "aliases", "gates": "pass"|"fail"|None, "auto_promoted": bool}`;
        `aliases` is empty for a version whose gates failed.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from core.registry import store
    from core.registry.promotion import default_actor, promote

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
    _log_reference(ws, run_id, model_uri, data_version, name, version)
    _log_compiled(client, run_id, model_uri)
    summary = {
        "name": name,
        "version": version,
        "aliases": [],
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
    else:
        summary.update(_challenger_if_gates_pass(ws, client, name, version))
    _write_card(ws, version)
    return summary


def _challenger_if_gates_pass(ws: Workspace, client, name: str, version: str) -> dict:
    """Evaluate a new version's gates; on a pass give it `challenger` and maybe auto-promote.

    Returns:
        The summary's `gates`, `aliases` and `auto_promoted` keys.
    """
    from core.registry.gates import evaluate_gates
    from core.registry.promotion import maybe_auto_promote

    report = evaluate_gates(ws, name, version)
    if not report.passed:
        log.info("%s v%s failed its gates, no alias: %s", name, version, report.failure_summary())
        return {"gates": report.status, "aliases": [], "auto_promoted": False}
    client.set_registered_model_alias(name, T.ALIAS_CHALLENGER, version)
    if maybe_auto_promote(ws, version):
        return {"gates": report.status, "aliases": [T.ALIAS_CHAMPION], "auto_promoted": True}
    return {"gates": report.status, "aliases": [T.ALIAS_CHALLENGER], "auto_promoted": False}


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


def _write_card(ws: Workspace, version: str) -> None:
    """The version's model card (already written if it became champion: then refreshed).

    A card that cannot be written is logged and tagged on the version, never raised.
    """
    from core.registry.card import record_card

    record_card(ws, version)


def _status(gates: list) -> str | None:
    if not gates:
        return None
    return "pass" if all(g.get("passed") for g in gates) else "fail"
