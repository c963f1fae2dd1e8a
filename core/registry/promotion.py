"""Champion promotion and rollback on MLflow aliases (stages are deprecated and never used).

The registered model is `ws.config.model_name`. `promote` moves the `champion` alias after the
gates pass (or with `force`, recorded); `rollback` returns the champion before the current one
on the audit log's stack of champions (`core.registry.history`); every move appends an
`AuditRecord` to the log and to tags.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

from core import access
from core.errors import GateFailed, NotAnApprover, PromotionRefused
from core.registry import store
from core.registry.audit import (
    ACTIONS,
    TAG_PROMOTED_AT,
    TAG_PROMOTED_BY,
    AuditRecord,
    append_audit,
    read_audit,
    tag_versions,
)
from core.registry.gates import GateReport, evaluate_gates, load_gate_report
from core.registry.history import rollback_target
from core.registry.tracking import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    TAG_CANDIDATE,
    TAG_DATA_VERSION,
    TAG_GATES_STATUS,
    metric_key,
)
from core.workspace import Workspace

APPROVER_ROLE = access.APPROVER
AUTO_PROMOTE_REASON = "auto-promote: every gate passed"


def default_actor() -> str:
    """The OS user (used when the UI has no authentication configured, and by the CLI)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def require_approver(actor: str, roles: dict | None) -> None:
    """Refuse a promotion by a user without the approver role; no-op when auth is off.

    The rule is `core.access`'s: the approver role or a stronger one (admin).

    Args:
        actor: the signed-in user.
        roles: user → role name or list of role names; None when authentication is not
            configured (then anyone may promote).

    Raises:
        NotAnApprover: authentication is configured and `actor` lacks the approver role.
    """
    if roles is None:
        return
    if not access.allowed(roles.get(actor), access.PROMOTE):
        raise NotAnApprover(
            f"{actor} may not promote models: the '{APPROVER_ROLE}' role is required"
        )


def list_models(ws: Workspace) -> list[dict]:
    """Versions of the workspace's registered model, newest first.

    Returns:
        Dicts with version, aliases, run_id, candidate (the run's candidate name), data_version,
        created (UTC ISO), gates ("pass" | "fail" | "not evaluated"), metric, test_metric (the
        run's `test_<metric>`), promoted_by, promoted_at.
    """
    client = store.registry_client(ws)
    name, metric = ws.config.model_name, ws.config.metric
    by_version: dict[str, list[str]] = {}
    for alias, version in store.aliases(client, name).items():
        by_version.setdefault(version, []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        run_id = store.version_run_id(mv)
        run_tags, run_metrics = store.run_data(client, run_id)
        tags = mv.tags or {}
        rows.append(
            {
                "version": str(mv.version),
                "aliases": sorted(by_version.get(str(mv.version), [])),
                "run_id": run_id,
                "candidate": run_tags.get(TAG_CANDIDATE),
                "data_version": tags.get(TAG_DATA_VERSION) or run_tags.get(TAG_DATA_VERSION),
                "created": _iso(mv.creation_timestamp),
                "gates": tags.get(TAG_GATES_STATUS, "not evaluated"),
                "metric": metric,
                "test_metric": run_metrics.get(metric_key("test", metric)),
                "promoted_by": tags.get(TAG_PROMOTED_BY),
                "promoted_at": tags.get(TAG_PROMOTED_AT),
            }
        )
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)


def _iso(millis: int | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


def _require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise PromotionRefused("a reason is required (--reason TEXT)")
    return text


def _current_report(ws: Workspace, name: str, version: str, champion: str | None) -> GateReport:
    """The stored gate report when it was made against today's champion; else evaluate now."""
    report = load_gate_report(ws, name, version)
    if report is None or report.champion_version != champion:
        report = evaluate_gates(ws, name, version)
    return report


def promote(
    ws: Workspace,
    version: str | int,
    reason: str,
    actor: str,
    force: bool = False,
    action: str = "promote",
) -> AuditRecord:
    """Make a version the champion after its gates pass (or despite them with `force`).

    Gates are evaluated first when the version has no report, or one made against another
    champion. The previous champion stays registered; `challenger` is cleared if it pointed here.

    Raises:
        ModelNotFound: no such version.
        GateFailed: a gate failed and `force` is False (the message names each failing gate).
        PromotionRefused: no reason, or the version already is the champion.
    """
    reason = _require_reason(reason)
    if action not in ACTIONS:
        raise PromotionRefused(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    name = ws.config.model_name
    client = store.registry_client(ws)
    v = str(store.get_version(client, name, version).version)
    current = store.champion_version(client, name)
    if current == v:
        raise PromotionRefused(f"{name} v{v} already is the champion")
    report = _current_report(ws, name, v, current)
    if not report.passed and not force:
        raise GateFailed(
            f"{name} v{v} failed {len(report.failed)} gate(s): {report.failure_summary()}; "
            "use --force to promote anyway",
            [g.to_dict() for g in report.failed],
        )
    return _move_champion(
        ws,
        client,
        name,
        current,
        v,
        reason=reason,
        actor=actor or default_actor(),
        action=action,
        forced=not report.passed,
        report=report,
    )


def _move_champion(
    ws: Workspace,
    client,
    name: str,
    current: str | None,
    target: str,
    *,
    reason: str,
    actor: str,
    action: str,
    forced: bool,
    report: GateReport | None,
) -> AuditRecord:
    """Point `champion` at `target`, then append the audit record and mirror it as tags."""
    client.set_registered_model_alias(name, ALIAS_CHAMPION, target)
    if store.alias_version(client, name, ALIAS_CHALLENGER) == target:
        client.delete_registered_model_alias(name, ALIAS_CHALLENGER)
    record = AuditRecord.new(
        actor=actor,
        action=action,
        model=name,
        from_version=current,
        to_version=target,
        reason=reason,
        forced=forced,
        gates=[g.to_dict() for g in report.gates] if report else [],
        metrics=(report.metrics.get("challenger") or {}) if report else {},
    )
    append_audit(ws, record)
    tag_versions(client, record)
    _refresh_cards(ws, record)
    return record


def _refresh_cards(ws: Workspace, record: AuditRecord) -> None:
    """Refresh the model cards of both versions a move concerns (history, aliases, gates).

    Never raises: a card that cannot be written is logged and tagged on its version.
    """
    from core.registry.card import refresh_cards

    refresh_cards(ws, [record.to_version, record.from_version])


def planned_rollback(ws: Workspace) -> tuple[str, str]:
    """Where a rollback would go now: `(current champion, the champion before it)`.

    The history is a stack (`core.registry.history`): a second rollback goes to the champion
    before that one, and never back to the version just rolled away from.

    Raises:
        PromotionRefused: no champion, or no earlier champion in the audit log.
    """
    name = ws.config.model_name
    current = store.champion_version(store.registry_client(ws), name)
    if current is None:
        raise PromotionRefused(f"{name} has no champion to roll back")
    previous = rollback_target(read_audit(ws, name), current)
    if previous is None:
        raise PromotionRefused(
            f"nothing to roll back to: the audit log has no champion before {name} v{current}; "
            "to go forward again, promote a version (gates apply)"
        )
    return current, previous


def rollback(ws: Workspace, reason: str, actor: str) -> AuditRecord:
    """Return the champion before the current one (gates are not re-run: it is undo).

    Raises:
        PromotionRefused: no reason, no champion, or no earlier champion in the audit log
            (`planned_rollback`).
        ModelNotFound: the earlier champion's version was deleted from the registry.
    """
    reason = _require_reason(reason)
    name = ws.config.model_name
    current, previous = planned_rollback(ws)
    client = store.registry_client(ws)
    store.get_version(client, name, previous)
    return _move_champion(
        ws,
        client,
        name,
        current,
        previous,
        reason=reason,
        actor=actor or default_actor(),
        action="rollback",
        forced=False,
        report=load_gate_report(ws, name, previous),
    )


def maybe_auto_promote(
    ws: Workspace, version: str | int, actor: str | None = None
) -> AuditRecord | None:
    """Promote a version when `training.auto_promote` is on and every gate passes.

    Returns:
        The audit record (action `auto_promote`), or None when the setting is off, the version
        already is the champion, or a gate failed.
    """
    if not ws.config.training.auto_promote:
        return None
    name = ws.config.model_name
    client = store.registry_client(ws)
    v = str(store.get_version(client, name, version).version)
    current = store.champion_version(client, name)
    if current == v:
        return None
    report = _current_report(ws, name, v, current)
    if not report.passed:
        return None
    return _move_champion(
        ws,
        client,
        name,
        current,
        v,
        reason=AUTO_PROMOTE_REASON,
        actor=actor or default_actor(),
        action="auto_promote",
        forced=False,
        report=report,
    )


AUTO_ROLLBACK_ACTOR = "monitoring"


def auto_rollback(ws: Workspace, expected: str, reason: str, evidence: dict) -> AuditRecord:
    """Roll back the champion `expected` on realized evidence (the monitoring's own rollback).

    Like `rollback` (to the champion before it on the stack, no gates), by actor `monitoring`,
    with `evidence` (both versions' realized metrics, windows and label counts) as the audit
    record's `metrics`.

    Raises:
        PromotionRefused: the champion is no longer `expected` (someone moved it meanwhile), or
            there is nothing to roll back to.
    """
    name = ws.config.model_name
    current, previous = planned_rollback(ws)
    if current != str(expected):
        raise PromotionRefused(
            f"{name} champion is v{current}, not v{expected}: automatic rollback skipped"
        )
    client = store.registry_client(ws)
    store.get_version(client, name, previous)
    client.set_registered_model_alias(name, ALIAS_CHAMPION, previous)
    report = load_gate_report(ws, name, previous)
    record = AuditRecord.new(
        actor=AUTO_ROLLBACK_ACTOR,
        action="rollback",
        model=name,
        from_version=current,
        to_version=previous,
        reason=_require_reason(reason),
        forced=False,
        gates=[g.to_dict() for g in report.gates] if report else [],
        metrics=evidence,
    )
    append_audit(ws, record)
    tag_versions(client, record)
    _refresh_cards(ws, record)
    return record
