"""Promotion history: an append-only JSON-lines log in the workspace, mirrored as version tags.

The log (`<ws>/audit/promotions.jsonl`) is only ever opened in append mode, one record per line,
flushed and fsynced; nothing rewrites or truncates it. Each record is also written on the model
versions it concerns:

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
from core.audit import record_event
from core.files import append_jsonl, read_jsonl, utc_now
from core.registry.checks import json_safe
from core.workspace import Workspace

log = logging.getLogger(__name__)

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
    """Append one record to the promotion history and, as an event, to the one audit log.

    Both in append mode, flushed and fsynced.
    """
    append_jsonl(ws.audit_path, record.to_dict(), fsync=True)
    record_event(
        ws,
        record.actor,
        EVENT_ACTIONS.get(record.action, record.action),
        f"{record.model} v{record.to_version}",
        reason=record.reason,
        source="registry",
        details={
            "audit_id": record.id,
            "from_version": record.from_version,
            "to_version": record.to_version,
            "forced": record.forced,
        },
    )


def read_audit(ws: Workspace, name: str | None = None) -> list[dict]:
    """Audit records (as dicts), newest first; only model `name` when given.

    Lines that are not valid JSON (e.g. cut short by a crash) are skipped.
    """
    records = read_jsonl(ws.audit_path)
    return [r for r in records if name is None or r.get("model") == name][::-1]


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
