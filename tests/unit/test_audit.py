"""The audit log: append-only JSON lines, read newest first, robust to a torn last line."""

from __future__ import annotations

import json
import time

from core.registry.audit import AuditRecord, append_audit, read_audit
from core.workspace import Workspace


def _record(to: str, model: str = "m", **kw) -> AuditRecord:
    return AuditRecord.new(
        actor="ana",
        action="promote",
        model=model,
        from_version=None,
        to_version=to,
        reason="why",
        **kw,
    )


def test_records_are_appended_and_read_newest_first(tmp_path):
    ws = Workspace(tmp_path)
    append_audit(ws, _record("1", metrics={"roc_auc": float("nan")}))
    first = ws.audit_path.read_bytes()
    append_audit(ws, _record("2"))
    append_audit(ws, _record("3", model="other"))

    assert ws.audit_path.read_bytes().startswith(first)
    assert [r["to_version"] for r in read_audit(ws)] == ["3", "2", "1"]
    assert [r["to_version"] for r in read_audit(ws, "m")] == ["2", "1"]
    assert read_audit(ws, "m")[1]["metrics"] == {"roc_auc": None}  # strict JSON


def test_a_torn_last_line_is_skipped_and_never_rewritten(tmp_path):
    ws = Workspace(tmp_path)
    append_audit(ws, _record("1"))
    with open(ws.audit_path, "a", encoding="utf-8") as fh:
        fh.write('{"id": "torn')  # a crash mid-write
    before = ws.audit_path.read_bytes()
    append_audit(ws, _record("2"))

    assert ws.audit_path.read_bytes().startswith(before)
    assert [r["to_version"] for r in read_audit(ws)] == ["2", "1"]


def test_record_ids_sort_by_time_and_tags_hold_the_record(tmp_path):
    a = _record("1")
    time.sleep(0.002)  # ids carry microseconds; a pause makes the order certain
    b = _record("2")
    assert a.id < b.id and a.time.endswith("+00:00")
    tags = {f"audit.{r.id}": r.to_json() for r in (a, b)} | {"promoted_by": "ana"}
    newest_first = [json.loads(tags[k]) for k in sorted(tags, reverse=True) if k[:6] == "audit."]
    assert [h["to_version"] for h in newest_first] == ["2", "1"]
    assert AuditRecord.from_dict(json.loads(a.to_json())) == a
