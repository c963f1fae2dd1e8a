"""The steps of the unattended loop, as the scheduler (and the simulation) run them.

Each step calls a `core` pipeline and returns a JSON-able summary whose `status` is `ok` or
`skipped` (nothing to do); errors propagate so the caller records a failure.

- `data_step`: the data pipeline over whatever arrived.
- `feedback_step`: labelled predictions exported as a landing batch (`sources.feedback`).
- `training_step`: trains only when a data version is newer than the champion's (and no later
  version already tried it), or when forced, asked or a retrain request is pending, and never
  twice on the same data, config and code unless forced; reports whether the champion changed
  (the deploy step then reloads the API).
- `request_retrain_now`: "Retrain now" (the Drift page, `workbench retrain`): a training that
  starts within seconds, on the running scheduler or in a background process;
  `requested_training` is that background process's body.
- `drift_step`: one monitoring check of the prediction log (alerts and retrain requests are
  raised by `core.monitoring`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from core.errors import WorkbenchError, one_line
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


def feedback_step(ws: Workspace) -> dict:
    """Export labelled predictions to the landing folder; `skipped` when off or none are new."""
    from core.data.feedback import export_labels

    return export_labels(ws)


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
    from core.data.versioning import latest_version, versions_since

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
    newer = (
        f"data version {latest.id} is newer than the champion's ({champion['data_version'] or '?'})"
    )
    policy = ws.config.monitoring.retrain
    if policy.on_new_data:
        return True, newer
    limit = policy.max_versions_behind
    if limit is None:
        return False, (
            f"{newer}, but new data alone does not retrain (monitoring.retrain.on_new_data: "
            "false): waiting for a retrain request"
        )
    last = newest or champion  # the last training, promoted or not
    behind = versions_since(ws, last["data_version"] or "")
    if behind is not None and behind < limit:
        return False, (
            f"the last training (v{last['version']}) is {behind} data version(s) behind, fewer "
            f"than monitoring.retrain.max_versions_behind ({limit}): waiting for a retrain "
            "request or more data"
        )
    return True, f"{newer} and {behind if behind is not None else 'many'} versions behind"


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


def training_step(
    ws: Workspace,
    force: bool = False,
    progress: Progress | None = None,
    reason: str | None = None,
    by: str | None = None,
) -> dict:
    """Train when due, forced or asked; register, gate, maybe promote; report the outcome.

    Args:
        ws: The workspace.
        force: Train even without new data, and even when a registered version was trained on
            the same data version, config and code (`workbench train --force`).
        progress: Called with (fraction done, message).
        reason: Set when someone asked for this training (`request_retrain_now`): it then runs
            whether or not it is due, and its reason and outcome go to the retrain decisions.
        by: Who asked (with `reason`).

    A training that would only repeat a registered version (same data version, config and
    code) is `skipped` with "nothing new to train on", naming that version. A pending retrain
    request (`core.monitoring.trigger`) is consumed once the training succeeded or had nothing
    new to train on, so a failed attempt leaves it for the retry.
    """
    from core.monitoring.trigger import pending_request, record_outcome, take_request
    from core.training.duplicates import NothingNewToTrain
    from core.training.train import train

    request = pending_request(ws)
    due, why = training_due(ws)
    if not (force or reason or request or due):
        return {"status": "skipped", "reason": why}
    if reason:
        why = f"retrain asked by {by or 'someone'}: {reason}"
    elif request:
        why = f"retrain requested ({request.get('trigger')}): {request.get('reason')}"
    elif force:
        why = "forced run"
    asked = {"trigger": "manual" if reason else (request or {}).get("trigger"), "by": by}
    before = (model_versions(ws)["champion"] or {}).get("version")
    try:
        result = train(ws, progress=progress or _quiet, force=force)
    except NothingNewToTrain as exc:
        if request:
            take_request(ws, by="scheduler")
        if reason or request:
            record_outcome(ws, "nothing_new", str(exc), asked=why, version=exc.version, **asked)
        return {"status": "skipped", "reason": str(exc), "asked": why, "duplicate_of": exc.version}
    except Exception as exc:
        if reason or request:
            record_outcome(ws, "failed", f"training failed: {one_line(exc)}", asked=why, **asked)
        raise
    if request:
        take_request(ws, by="scheduler")
    summary = _trained(ws, result, before) | {"reason": why}
    summary["retrain_request"] = (request or {}).get("id")
    if reason or request:
        record_outcome(
            ws,
            "trained",
            f"trained v{summary['version']} on data {result.data_version}"
            + (", promoted to champion" if summary["promoted"] else ""),
            asked=why,
            version=summary["version"],
            **asked,
        )
    return summary


def _trained(ws: Workspace, result, before: str | None) -> dict:
    """The summary of a finished training: version, gates, whether the champion changed."""
    after = (model_versions(ws)["champion"] or {}).get("version")
    registered = result.registered or {}
    promoted = after is not None and after != before
    return {
        "status": "ok",
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
        "train_seconds": result.duration_s,
    }


def drift_step(ws: Workspace, window: str | None = None, clock: datetime | None = None) -> dict:
    """One monitoring check of the prediction log; `skipped` when there is nothing to check.

    `clock`: the time its incidents are kept in (default now; see `run_check`).
    """
    from core.errors import ModelNotFound
    from core.monitoring.check import run_check

    if model_versions(ws)["champion"] is None:
        return {"status": "skipped", "reason": "no champion yet: nothing to monitor"}
    try:
        result = run_check(ws, window, clock=clock)
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


# --------------------------------------------------------------------------- retrain now
Spawn = Callable[..., str]
"""Starts `workbench train --reason ...` detached: `spawn(reason=, by=, force=)` -> log path."""


def request_retrain_now(
    ws: Workspace, reason: str, by: str, force: bool = False, spawn: Spawn | None = None
) -> dict:
    """Start a training now: on the running scheduler, else in a background process.

    With a live scheduler (its lease is held) a `run` command of `training_pipeline` is queued
    (the leader applies commands every `poll_seconds`; the run shows in the job history with
    trigger `retrain_request`). Without one, `spawn` (given by the app: core starts no
    processes) runs the same training detached; it records itself in the job history too.
    The request goes to the retrain decisions; the training adds its outcome there.

    Args:
        ws: The workspace.
        reason: Why, for humans (recorded with the request, the run and the outcome).
        by: Who asked.
        force: Train even when nothing is new (same data version, config and code).
        spawn: Starts the background training when no scheduler runs; returns its log path.

    Returns:
        `{"via": "scheduler" | "background", "message", "reason", ...}` plus `command_id` and
        `scheduler` (via the scheduler) or `log` (background).

    Raises:
        WorkbenchError: no scheduler runs and `spawn` is None.
    """
    from core.jobs import JobsDB
    from core.monitoring.trigger import record_decision

    reason = reason.strip() or "requested by hand"
    db = JobsDB.for_workspace(ws)
    holder = db.holder()
    if holder and holder["live"]:
        params = {"force": force, "reason": reason, "by": by}
        command_id = db.enqueue("training_pipeline", "run", params, by=by)
        started = {"via": "scheduler", "command_id": command_id, "scheduler": holder["owner"]}
        message = (
            f"training queued on the running scheduler (command {command_id}); it starts "
            "within seconds: follow it on the Jobs page or with `workbench jobs list`"
        )
    elif spawn is None:
        raise WorkbenchError("no scheduler runs and no background training can be started")
    else:
        log_path = spawn(reason=reason, by=by, force=force)
        started = {"via": "background", "log": str(log_path)}
        message = (
            f"no scheduler runs: training started in a background process (log: {log_path}); "
            "it shows on the Jobs page as a training_pipeline run"
        )
    record_decision(ws, True, reason, trigger="manual", by=by, force=force, **started)
    return started | {"message": message, "reason": reason}


def requested_training(
    ws: Workspace, reason: str, by: str, force: bool = False, progress: Progress | None = None
) -> dict:
    """Run an asked-for `training_step` outside the scheduler, recorded in the job history.

    The run gets a `training_pipeline` row (trigger `retrain_request`, owner `background-<pid>`)
    with live progress and the step's summary, so the Jobs page shows it like a scheduled run.
    Errors are recorded as a failed run and re-raised.
    """
    import contextlib
    import os

    from core.jobs import JobsDB

    db = JobsDB.for_workspace(ws)
    run_id = db.start_run("training_pipeline", "retrain_request", f"background-{os.getpid()}")
    progress = progress or _quiet

    def tracked(fraction: float, message: str) -> None:
        progress(fraction, message)
        with contextlib.suppress(Exception):  # progress is best effort, never fails a training
            db.progress(run_id, fraction, message)

    try:
        summary = training_step(ws, force, tracked, reason=reason, by=by)
    except Exception as exc:
        db.finish_run(run_id, "failed", {"reason": reason, "by": by}, one_line(exc))
        raise
    summary = dict(summary)
    status = summary.pop("status", "ok")
    db.finish_run(run_id, status, summary | {"by": by})
    return summary | {"status": status, "run_id": run_id}
