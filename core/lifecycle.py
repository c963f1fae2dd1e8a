"""The steps of the unattended loop, as the scheduler (and the simulation) run them.

Each step calls a `core` pipeline and returns a JSON-able summary whose `status` is `ok` or
`skipped` (nothing to do); errors propagate so the caller records a failure.

- `data_step`: the data pipeline over whatever arrived.
- `training_step`: trains only when a data version is newer than the champion's (and no later
  version already tried it), or when forced or a retrain request is pending; reports whether
  the champion changed (the deploy step then reloads the API).
- `drift_step`: one monitoring check of the prediction log (alerts and retrain requests are
  raised by `core.monitoring`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from core.workspace import Workspace

Progress = Callable[[float, str], None]


def _quiet(_: float, __: str) -> None:
    return None


def data_step(ws: Workspace, progress: Progress | None = None) -> dict:
    """Run the data pipeline once; `skipped` when nothing new arrived."""
    from core.data.pipeline import run_pipeline

    result = run_pipeline(ws, progress or _quiet)
    return {
        "status": "skipped" if result.status == "noop" else "ok",
        "pipeline": result.status,
        "message": result.message,
        "accepted": [b.name for b in result.accepted],
        "rejected": [{"batch": b.name, "reason": b.reason} for b in result.rejected],
        "version": (result.version or {}).get("id"),
        "rows": (result.version or {}).get("rows"),
    }


# --------------------------------------------------------------------------- registry reads
def model_versions(ws: Workspace) -> dict:
    """`{"champion": {...} | None, "newest": {...} | None}` with version, data_version, gates."""
    from core.registry import store
    from core.registry.tracking import ALIAS_CHAMPION, TAG_DATA_VERSION, TAG_GATES_STATUS

    if ws.tracking_uri.startswith("sqlite:") and not ws.mlflow_db.is_file():
        return {"champion": None, "newest": None}  # never create an empty store
    client = store.registry_client(ws)
    name = ws.config.model_name

    def info(mv) -> dict:
        tags = mv.tags or {}
        return {
            "version": str(mv.version),
            "data_version": tags.get(TAG_DATA_VERSION),
            "gates": tags.get(TAG_GATES_STATUS),
        }

    aliases = store.aliases(client, name)
    versions = client.search_model_versions(f"name = '{name}'") if aliases else []
    by_number = {str(mv.version): mv for mv in versions}
    champion = by_number.get(aliases.get(ALIAS_CHAMPION, ""))
    newest = max(versions, key=lambda mv: int(mv.version), default=None)
    return {
        "champion": info(champion) if champion else None,
        "newest": info(newest) if newest else None,
    }


def training_due(ws: Workspace) -> tuple[bool, str]:
    """Whether a scheduled training should run, and why (or why not)."""
    from core.data.versioning import latest_version

    latest = latest_version(ws)
    if latest is None:
        return False, "no data version yet: nothing to train on"
    models = model_versions(ws)
    champion, newest = models["champion"], models["newest"]
    if champion is None:
        return True, f"no champion yet; training on data version {latest.id}"
    if champion["data_version"] == latest.id:
        return False, f"champion v{champion['version']} already trained on the latest data version"
    if newest and newest["data_version"] == latest.id:
        return False, (
            f"v{newest['version']} was already trained on data version {latest.id} "
            f"(gates {newest['gates'] or 'not evaluated'}); waiting for newer data"
        )
    return True, (
        f"data version {latest.id} is newer than the champion's "
        f"({champion['data_version'] or 'unknown'})"
    )


def _gate_failures(ws: Workspace, version: str | None) -> list[str]:
    from core.registry.gates import load_gate_report

    if not version:
        return []
    report = load_gate_report(ws, ws.config.model_name, version)
    return [f"{g.name}: {g.reason}" for g in report.failed] if report else []


def _promotion_reason(ws: Workspace, version: str) -> str | None:
    from core.registry.audit import read_audit

    for record in read_audit(ws, ws.config.model_name):
        if str(record.get("to_version")) == version:
            return str(record.get("reason"))
    return None


def _finite(value) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def training_step(ws: Workspace, force: bool = False, progress: Progress | None = None) -> dict:
    """Train when due, forced or requested; register, gate, maybe promote; report the outcome.

    A pending retrain request (`core.monitoring.trigger`) is consumed once the training
    succeeded, so a failed attempt leaves it for the retry.
    """
    from core.monitoring.trigger import pending_request, take_request
    from core.training.train import train

    request = pending_request(ws)
    due, why = training_due(ws)
    if not (force or request or due):
        return {"status": "skipped", "reason": why}
    if force:
        reason = "forced run"
    elif request:
        reason = f"retrain requested ({request.get('trigger')}): {request.get('reason')}"
    else:
        reason = why
    before = (model_versions(ws)["champion"] or {}).get("version")
    result = train(ws, progress=progress or _quiet)
    if request:
        take_request(ws, by="scheduler")
    after = (model_versions(ws)["champion"] or {}).get("version")
    registered = result.registered or {}
    promoted = after is not None and after != before
    return {
        "status": "ok",
        "reason": reason,
        "data_version": result.data_version,
        "best": result.best.name,
        "metric": result.metric,
        "test_metric": _finite(result.final.metrics["test"].get(result.metric)),  # registered
        "version": registered.get("version"),
        "gates": registered.get("gates"),
        "gates_failed": [] if promoted else _gate_failures(ws, registered.get("version")),
        "champion_before": before,
        "champion_after": after,
        "promoted": promoted,
        "promotion_reason": _promotion_reason(ws, after) if promoted else None,
        "retrain_request": (request or {}).get("id"),
        "train_seconds": result.duration_s,
    }


def drift_step(ws: Workspace, window: str | None = None) -> dict:
    """One monitoring check of the prediction log; `skipped` when there is nothing to check."""
    from core.errors import ModelNotFound
    from core.monitoring.check import run_check

    if model_versions(ws)["champion"] is None:
        return {"status": "skipped", "reason": "no champion yet: nothing to monitor"}
    try:
        result = run_check(ws, window)
    except ModelNotFound as exc:
        return {"status": "skipped", "reason": str(exc)}
    if result.skipped:
        return {"status": "skipped", "reason": result.skipped, "check_id": result.id}
    drift, perf = result.drift, result.performance
    return {
        "status": "ok",
        "check_id": result.id,
        "window": result.window.label,
        "rows": len(result.window.frame),
        "model_version": (result.model or {}).get("version"),
        "dataset_drift": bool(drift and drift.dataset_drift),
        "drift_share": _finite(drift.share) if drift else None,
        "drifted_columns": list(drift.drifted) if drift else [],
        "performance_metric": perf.metric if perf else None,
        "performance": _finite(perf.value) if perf else None,
        "performance_baseline": _finite(perf.baseline) if perf else None,
        "performance_drift": bool(perf and perf.drifted),
        "labelled": perf.labelled if perf else 0,
        "fired": result.fired,
        "alerts": [a.get("kind") for a in result.alerts],
        "retrain_requested": any(d.get("requested") for d in result.retrain),
    }
