"""Promotion history: one view of the workspace's audit log, mirrored as version tags.

Each promotion or rollback is one event of the audit log of every change (`core.audit`,
`<ws>/.workbench/audit.jsonl`, append-only, fsynced), as `EVENT_ACTIONS[action]` on
`<model> v<to_version>` from source `registry`, with the whole record (gates, metrics, ...) in
its details; `read_audit` is the view that reads those events back as records. A workspace made
before there was one audit log also has `<ws>/audit/promotions.jsonl`: it is never written
again, and `read_audit` still reads it. Each record is also written on the model versions it
concerns:

- `audit.<record id>` = the record as JSON, on both the new champion and the version it
  replaced. Record ids start with the UTC time, so these tags sort chronologically and a new
  record never overwrites an old one.
- `promoted_by`, `promoted_at`, `promotion_reason`, `promotion_action`, `promotion_forced` on
  the new champion: the latest promotion of that version, for people browsing the MLflow UI
  (the history itself is the `audit.*` tags and the log).

Each record is also one event of the workspace's audit log of every change (`core.audit`), as
`EVENT_ACTIONS[action]` on `<model> v<to_version>`, the record's id and versions as details.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field

from core import access
from core.audit import audit_log_path, record_event
from core.files import read_jsonl, utc_now
from core.registry.checks import json_safe
from core.workspace import Workspace

log = logging.getLogger(__name__)

SOURCE = "registry"
"""The `source` of promotion events in the audit log."""

ACTIONS = ("promote", "rollback", "auto_promote", "initial_champion")
EVENT_ACTIONS = {
    "promote": access.PROMOTE,
    "rollback": access.ROLLBACK,
    "auto_promote": "auto-promote",
    "initial_champion": "initial champion",
}
"""A promotion record's action → the action of its event in `core.audit`'s log."""
TAG_AUDIT_PREFIX = "audit."
TAG_PROMOTED_BY = "promoted_by"
TAG_PROMOTED_AT = "promoted_at"
TAG_PROMOTION_REASON = "promotion_reason"
TAG_PROMOTION_ACTION = "promotion_action"
TAG_PROMOTION_FORCED = "promotion_forced"


@dataclass
class AuditRecord:
    """One promotion or rollback: who, when, from which version to which, why, on what evidence.

    Attributes:
        id: `<UTC time>-<random>`, unique and sortable.
        time: UTC ISO-8601 time of the action.
        actor: the signed-in user, else the OS user.
        action: one of `ACTIONS`.
        model: the registered model name.
        from_version: the champion before (None when there was none).
        to_version: the champion after.
        reason: the free-text reason given.
        forced: True when failed gates were overridden with `--force`.
        gates: the gate results (dicts) the decision was based on.
        metrics: holdout metrics of the new champion (metric → value).
    """

    id: str
    time: str
    actor: str
    action: str
    model: str
    from_version: str | None
    to_version: str
    reason: str
    forced: bool = False
    gates: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    @classmethod
    def new(cls, **fields) -> AuditRecord:
        """A record stamped now with a fresh id (fields as in the class, minus id and time)."""
        now = utc_now()
        rid = f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"
        return cls(id=rid, time=now.isoformat(timespec="seconds"), **fields)

    def to_dict(self) -> dict:
        return json_safe(asdict(self))

    def to_json(self) -> str:
        """One strict-JSON line (no newline)."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> AuditRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def append_audit(ws: Workspace, record: AuditRecord) -> None:
    """Append one promotion record to the audit log as an event (append mode, fsynced)."""
    record_event(
        ws,
        record.actor,
        EVENT_ACTIONS.get(record.action, record.action),
        f"{record.model} v{record.to_version}",
        reason=record.reason,
        source=SOURCE,
        details={
            "audit_id": record.id,
            "from_version": record.from_version,
            "to_version": record.to_version,
            "forced": record.forced,
            "record": record.to_dict(),
        },
    )


def read_audit(ws: Workspace, name: str | None = None) -> list[dict]:
    """Promotion records (as dicts), newest first; only model `name` when given.

    The promotion events of the audit log, plus the records of a legacy
    `<ws>/audit/promotions.jsonl` (written before there was one audit log; its events in the
    audit log carry no record, so nothing is counted twice). Torn lines are skipped.
    """
    records = {r.get("id"): r for r in read_jsonl(ws.legacy_promotions_path)}
    for event in read_jsonl(audit_log_path(ws)):
        record = (event.get("details") or {}).get("record")
        if event.get("source") == SOURCE and isinstance(record, dict):
            records.setdefault(record.get("id"), record)
    ordered = sorted(records.values(), key=lambda r: str(r.get("id") or ""), reverse=True)
    return [r for r in ordered if name is None or r.get("model") == name]


def tag_versions(client, record: AuditRecord) -> None:
    """Mirror a record as tags on the new champion (and on the version it replaced)."""
    key = TAG_AUDIT_PREFIX + record.id
    value = record.to_json()
    client.set_model_version_tag(record.model, record.to_version, key, value)
    if record.from_version and record.from_version != record.to_version:
        client.set_model_version_tag(record.model, record.from_version, key, value)
    latest = {
        TAG_PROMOTED_BY: record.actor,
        TAG_PROMOTED_AT: record.time,
        TAG_PROMOTION_REASON: record.reason,
        TAG_PROMOTION_ACTION: record.action,
        TAG_PROMOTION_FORCED: str(record.forced).lower(),
    }
    for tag, tag_value in latest.items():
        client.set_model_version_tag(record.model, record.to_version, tag, tag_value)
