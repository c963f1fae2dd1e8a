"""Retrain requests: sustained monitoring evidence (or a click) asks for a training run.

`decide_retrain` judges each check: a realized performance drop asks at once; drift asks only
when the columns the model relies on drifted for `monitoring.retrain.consecutive_checks` checks
in a row (importance-weighted, see `core.monitoring.importance`), so daily noise on columns the
model hardly uses never retrains.

Attribution drift (the model's importance ranking on the window against its holdout's, nDCG
below `monitoring.attribution.threshold`: `core.monitoring.attribution`) is evidence of its own:
every decision records the check's nDCG (`attribution`), and with `attribution_drift` in
`monitoring.retrain.triggers` it asks for a training run alone once it held in
`consecutive_checks` checks in a row, like the drift conditions. It is off as a trigger by
default: the model leaning on other fields says its inputs moved into a region where other
fields decide, not that it is wrong there (a realized or estimated metric says that).

The request is one file, `.workbench/retrain_request.json`, that the scheduler consumes
(`take_request`) and executes; at most one is pending. Every decision (requested, or why not)
is appended to `.workbench/monitoring/retrain_decisions.jsonl`, and so is the outcome of each
asked-for training (`record_outcome`: trained, nothing new, failed).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from core.config.monitoring import RetrainConfig
from core.files import append_jsonl, atomic_write_text, read_jsonl, utc_now_iso
from core.monitoring.history import conditions_held, monitoring_dir, streak
from core.workspace import Workspace


def request_path(ws: Workspace) -> Path:
    """`.workbench/retrain_request.json`: the pending request, if any."""
    return ws.state / "retrain_request.json"


def decisions_path(ws: Workspace) -> Path:
    """`.workbench/monitoring/retrain_decisions.jsonl`."""
    return monitoring_dir(ws) / "retrain_decisions.jsonl"


def pending_request(ws: Workspace) -> dict | None:
    """The pending retrain request, or None."""
    try:
        return json.loads(request_path(ws).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def record_decision(ws: Workspace, requested: bool, reason: str, **details) -> dict:
    """Append one decision (`requested`, `reason`, details) and return it."""
    decision = {"time": utc_now_iso("seconds"), "requested": requested, "reason": reason, **details}
    append_jsonl(decisions_path(ws), decision)
    return decision


def record_outcome(ws: Workspace, outcome: str, reason: str, **details) -> dict:
    """Append what an asked-for training did: `outcome` is `trained`, `nothing_new` or `failed`."""
    return record_decision(ws, True, reason, outcome=outcome, **details)


def request_retrain(ws: Workspace, trigger: str, reason: str, by: str = "monitoring", **details):
    """Ask for a training run, unless one is already pending; the decision is recorded.

    Args:
        ws: The workspace.
        trigger: What asked: `dataset_drift`, `performance`, ... or `manual`.
        reason: Why, for humans (stored in the request and the decision).
        by: Who asked (`monitoring`, or the user who clicked).
        **details: Stored with the request (check id, model version, ...).

    Returns:
        The decision record.
    """
    pending = pending_request(ws)
    if pending is not None:
        return record_decision(
            ws,
            False,
            f"a request is already pending (since {pending.get('requested_at')}: "
            f"{pending.get('reason')})",
            trigger=trigger,
            by=by,
        )
    request = {
        "id": uuid.uuid4().hex[:12],
        "requested_at": utc_now_iso("seconds"),
        "trigger": trigger,
        "reason": reason,
        "by": by,
        **details,
    }
    atomic_write_text(request_path(ws), json.dumps(request, indent=2, default=str))
    evidence = {k: details[k] for k in ("attribution",) if k in details}  # kept in the log too
    return record_decision(
        ws, True, reason, trigger=trigger, by=by, request_id=request["id"], **evidence
    )


def take_request(ws: Workspace, by: str = "scheduler") -> dict | None:
    """Consume the pending request (for the scheduler, which then trains); None when none.

    The file is renamed before it is read, so two consumers cannot both take it.
    """
    path = request_path(ws)
    claimed = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.taken")
    try:
        os.replace(path, claimed)
    except FileNotFoundError:
        return None
    try:
        request = json.loads(claimed.read_text(encoding="utf-8"))
    finally:
        claimed.unlink(missing_ok=True)
    record_decision(ws, True, f"request {request.get('id')} taken by {by}", taken=True, by=by)
    return request


def read_decisions(ws: Workspace, limit: int = 100) -> list[dict]:
    """The newest retrain decisions, oldest first."""
    return read_jsonl(decisions_path(ws), limit)


DRIFT_CONDITIONS = ("dataset_drift", "prediction_drift", "target_drift")


def drift_evidence(drift: dict | None, cfg: RetrainConfig) -> list[str]:
    """The drift conditions of a check's drift summary (`DriftResult.to_json`) that count.

    `dataset_drift` counts when the drifted columns carry `min_weighted_share` of the model's
    importance (`weighted_share`; a profile without importance, or `min_weighted_share` 0: the
    dataset drift verdict);
    prediction and target drift when they hold.
    """
    if not drift:
        return []
    held = conditions_held({"drift": drift})
    weighted = drift.get("weighted_share")
    if weighted is not None and cfg.min_weighted_share > 0:
        held.discard("dataset_drift")
        if weighted >= cfg.min_weighted_share:
            held.add("dataset_drift")
    return [c for c in DRIFT_CONDITIONS if c in held and c in cfg.triggers]


def attribution_evidence(record: dict, cfg: RetrainConfig) -> list[str]:
    """`["attribution_drift"]` when the check's attribution drifted and it is a trigger."""
    drifted = bool((record.get("attribution_drift") or {}).get("drifted"))
    return ["attribution_drift"] if drifted and "attribution_drift" in cfg.triggers else []


def evidence_of(record: dict, cfg: RetrainConfig) -> list[str]:
    """The drift and attribution conditions of a check's record that count as evidence."""
    return drift_evidence(record.get("drift"), cfg) + attribution_evidence(record, cfg)


def attribution_summary(record: dict) -> dict | None:
    """What a decision keeps of a check's attribution drift: nDCG, threshold, verdict, method."""
    found = record.get("attribution_drift")
    if not found or found.get("ndcg") is None:
        return None
    keys = ("ndcg", "threshold", "drifted", "method")
    current = found.get("current_importance") or {}
    top = sorted(current, key=lambda f: -current[f])[:3]
    return {**{k: found.get(k) for k in keys}, "top_fields": top}


def _dropped(record: dict, cfg: RetrainConfig) -> bool:
    """Whether a check's realized performance dropped (and `performance` is a trigger)."""
    return "performance" in cfg.triggers and bool((record.get("performance") or {}).get("drifted"))


def _streak(previous: list[dict], version, cfg: RetrainConfig, held=None) -> int:
    """Checks in a row (newest first) of `version` since its last request where `held` holds.

    `held(record)` defaults to "the check's drift is evidence" (`evidence_of`).
    """
    held = held or (lambda record: bool(evidence_of(record, cfg)))
    return streak(
        previous,
        lambda record: (
            (record.get("model") or {}).get("version") == version
            and not any(d.get("requested") for d in record.get("retrain") or [])
            and held(record)
        ),
    )


def _asked_recently(previous: list[dict], version, since: str | None) -> dict | None:
    """The newest earlier check of `version` (after `since`) that requested a training run."""
    for record in reversed(previous):
        if since is not None and str(record.get("time")) < since:
            break
        if (record.get("model") or {}).get("version") == version and any(
            d.get("requested") for d in record.get("retrain") or []
        ):
            return record
    return None


def decide_retrain(
    ws: Workspace, check: dict, since: str | None = None, previous: list[dict] | None = None
) -> list[dict]:
    """Whether a check's evidence asks for a training run; the decisions made (recorded).

    Args:
        ws: The workspace (its `monitoring.retrain` config and check history).
        check: The check's history record (`CheckResult.to_record`), not yet recorded.
        since: ISO time: a request by an earlier check of the same champion after it (its
            window's start) is not repeated for a performance drop.
        previous: The recent check history when the caller has read it (else read here).

    A realized performance drop (`performance` in `triggers`) asks once it held in
    `performance_checks` checks in a row of the champion; drift and attribution drift ask when
    their evidence (`evidence_of`) held in `consecutive_checks` checks in a row.
    Nothing is recorded when no trigger condition held; a decision that is recorded carries the
    check's attribution drift (`attribution`: nDCG, threshold, verdict) as evidence.
    """
    from core.monitoring.history import read_history

    cfg = ws.config.monitoring.retrain
    version = (check.get("model") or {}).get("version")
    details = {"check_id": check.get("id"), "model_version": version}
    attribution = attribution_summary(check)
    if attribution is not None:
        details["attribution"] = attribution
    perf = check.get("performance") or {}
    evidence = evidence_of(check, cfg)
    performance = _dropped(check, cfg)
    if not evidence and not performance:
        return []
    previous = read_history(ws, limit=200) if previous is None else previous
    if performance:
        reason = (
            f"realized {perf.get('metric')} {perf.get('value'):.4f} vs baseline "
            f"{perf.get('baseline'):.4f} ({perf.get('drop'):.1%} worse, more than "
            f"{perf.get('max_drop'):.0%}; {perf.get('labelled')} labelled predictions)"
        )
        asked = _asked_recently(previous, version, since)
        if asked is not None:
            why = f"already requested for v{version} by check {asked.get('id')}: {reason}"
            return [record_decision(ws, False, why, trigger="performance", **details)]
        streak = 1 + _streak(previous, version, cfg, lambda record: _dropped(record, cfg))
        if streak >= cfg.performance_checks:
            if cfg.performance_checks > 1:
                reason += f", in {streak} consecutive checks"
            return [request_retrain(ws, "performance", reason, streak=streak, **details)]
        if not evidence:
            why = (
                f"{reason}: {streak} of {cfg.performance_checks} consecutive checks "
                "(monitoring.retrain.performance_checks), not yet sustained"
            )
            return [
                record_decision(ws, False, why, trigger="performance", streak=streak, **details)
            ]
    streak = 1 + _streak(previous, version, cfg)
    drift = check.get("drift") or {}
    weighted = drift.get("weighted_share")
    what = ", ".join(evidence) + (
        f" (drifted columns carry {weighted:.0%} of the model's importance)"
        if "dataset_drift" in evidence and weighted is not None
        else ""
    )
    if "attribution_drift" in evidence:
        what += (
            f" (importance ranking nDCG {attribution['ndcg']:.3f} < "
            f"{attribution['threshold']:.2f}, {attribution['method']})"
        )
    if streak < cfg.consecutive_checks:
        why = (
            f"{what}: {streak} of {cfg.consecutive_checks} consecutive checks "
            "(monitoring.retrain.consecutive_checks), not yet sustained"
        )
        return [record_decision(ws, False, why, trigger=evidence[0], streak=streak, **details)]
    reason = f"{what} in {streak} consecutive checks"
    return [request_retrain(ws, evidence[0], reason, streak=streak, **details)]
