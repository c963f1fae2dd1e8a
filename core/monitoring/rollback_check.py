"""A bad automatic promotion rolls itself back, on realized (labelled) evidence.

When the newest audit record of the model is an `auto_promote` and its version still is the
champion, the new champion's realized metric over its first `min_labels` labelled predictions
(served as champion since the promotion) is compared with the previous champion's over its
last `min_labels`. Worse by more than `monitoring.performance.auto_rollback.margin`
(relative) rolls back (`core.registry.promotion.auto_rollback`, actor `monitoring`, the
evidence in the audit record) and raises a `registry.auto_rollback` alert. Until both have
enough labels the verdict waits; the decision is made once, since a rollback is the newest
audit record afterwards.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from core.monitoring import performance as perf
from core.workspace import Workspace

log = logging.getLogger(__name__)
ACTUAL = "actual"


def _labelled(ws: Workspace, version: str) -> pd.DataFrame:
    """The labelled predictions `version` served as champion, oldest first."""
    from core.predictions.readers import joined_with_feedback, prediction_log_source

    rows = joined_with_feedback(prediction_log_source(ws))
    if rows.empty or ACTUAL not in rows:
        return rows.iloc[0:0]
    rows = rows[
        (rows["model_version"].astype(str) == str(version))
        & (rows["variant"].astype(str) == "champion")
        & rows[ACTUAL].notna()
    ]
    rows = rows.assign(_t=pd.to_datetime(rows["time"], utc=True, format="ISO8601"))
    return rows.sort_values("_t", kind="stable")


def _window(ws: Workspace, rows: pd.DataFrame, version: str, metric: str) -> dict:
    value = perf.window_metrics(rows, ACTUAL, ws.config.task).get(metric) if len(rows) else None
    return {
        "version": str(version),
        "value": None if value is None or not math.isfinite(value) else float(value),
        "labelled": len(rows),
        "start": rows["_t"].iloc[0].isoformat() if len(rows) else None,
        "end": rows["_t"].iloc[-1].isoformat() if len(rows) else None,
    }


def realized_evidence(ws: Workspace, promotion: dict) -> dict:
    """Both champions' realized metric around an automatic promotion (its audit record).

    Returns:
        `{"metric", "new": window, "old": window, "drop", "margin", "min_labels",
        "promotion"}`; a window is `{"version", "value", "labelled", "start", "end"}`; `drop`
        (relative, positive = worse) is None until both have `min_labels` labels.
    """
    cfg = ws.config.monitoring.performance
    metric = cfg.metric or ws.config.metric
    n = cfg.auto_rollback.min_labels
    since = pd.Timestamp(promotion["time"]).floor("s")
    new_rows = _labelled(ws, promotion["to_version"])
    new = _window(ws, new_rows[new_rows["_t"] >= since].head(n), promotion["to_version"], metric)
    old_rows = _labelled(ws, promotion["from_version"]).tail(n)
    old = _window(ws, old_rows, promotion["from_version"], metric)
    drop = None
    if min(new["labelled"], old["labelled"]) >= n and None not in (new["value"], old["value"]):
        drop = perf.relative_drop(metric, new["value"], old["value"])
    return {
        "metric": metric,
        "new": new,
        "old": old,
        "drop": drop,
        "margin": cfg.auto_rollback.margin,
        "min_labels": n,
        "promotion": promotion.get("id"),
    }


def describe(evidence: dict) -> str:
    """One line: both metrics, their windows and label counts."""
    new, old, metric = evidence["new"], evidence["old"], evidence["metric"]
    return (
        f"v{new['version']} realized {metric} {new['value']:.4f} over its first "
        f"{new['labelled']} labelled predictions ({new['start']} to {new['end']}) vs "
        f"v{old['version']} {old['value']:.4f} over its last {old['labelled']} "
        f"({old['start']} to {old['end']}): {evidence['drop']:.1%} worse, more than the "
        f"{evidence['margin']:.0%} margin"
    )


def check_auto_rollback(ws: Workspace) -> dict | None:
    """Judge the newest automatic promotion; roll it back when clearly worse.

    Returns:
        None when `auto_rollback` is off or the newest audit record is not an automatic
        promotion of today's champion; else `{"verdict": "waiting" | "kept" | "rolled_back" |
        "failed", "evidence": ..., ...}`.
    """
    from core.errors import WorkbenchError
    from core.registry import store
    from core.registry.audit import read_audit
    from core.registry.promotion import auto_rollback

    if not ws.config.monitoring.performance.auto_rollback.enabled:
        return None
    name = ws.config.model_name
    records = read_audit(ws, name)
    last = records[0] if records else None
    if not last or last.get("action") != "auto_promote" or not last.get("from_version"):
        return None
    if store.champion_version(store.registry_client(ws), name) != str(last["to_version"]):
        return None
    evidence = realized_evidence(ws, last)
    if evidence["drop"] is None:
        return {"verdict": "waiting", "evidence": evidence}
    if evidence["drop"] <= evidence["margin"]:
        return {"verdict": "kept", "evidence": evidence}
    reason = "auto-rollback: " + describe(evidence)
    try:
        record = auto_rollback(ws, last["to_version"], reason, evidence)
    except WorkbenchError as exc:
        log.warning("automatic rollback of %s v%s failed: %s", name, last["to_version"], exc)
        return {"verdict": "failed", "evidence": evidence, "error": str(exc)}
    from core.alerts import raise_alert

    alert = raise_alert(
        ws,
        "registry.auto_rollback",
        f"{name} rolled back v{record.from_version} -> v{record.to_version}: " + describe(evidence),
        "error",
        key=f"registry.auto_rollback:{name}",
        model_version=record.from_version,
        audit_id=record.id,
    )
    return {
        "verdict": "rolled_back",
        "evidence": evidence,
        "audit_id": record.id,
        "alert": {"kind": alert.get("kind"), "incident": alert.get("incident")},
    }
