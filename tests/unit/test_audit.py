"""The promotion history: a view of the one audit log (append-only JSON lines), read newest
first, robust to a torn last line, still reading a legacy promotions.jsonl."""

from __future__ import annotations

import json
import time

from core.audit import audit_log_path, read_events, record_event
from core.files import append_jsonl
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
    first = audit_log_path(ws).read_bytes()
    append_audit(ws, _record("2"))
    append_audit(ws, _record("3", model="other"))

    assert audit_log_path(ws).read_bytes().startswith(first)
    assert [r["to_version"] for r in read_audit(ws)] == ["3", "2", "1"]
    assert [r["to_version"] for r in read_audit(ws, "m")] == ["2", "1"]
    assert read_audit(ws, "m")[1]["metrics"] == {"roc_auc": None}  # strict JSON


def test_a_torn_last_line_is_skipped_and_never_rewritten(tmp_path):
    ws = Workspace(tmp_path)
    append_audit(ws, _record("1"))
    with open(audit_log_path(ws), "a", encoding="utf-8") as fh:
        fh.write('{"id": "torn')  # a crash mid-write
    before = audit_log_path(ws).read_bytes()
    append_audit(ws, _record("2"))

    assert audit_log_path(ws).read_bytes().startswith(before)
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


def test_promotions_are_events_of_the_one_audit_log(tmp_path):
    ws = Workspace(tmp_path)
    record_event(ws, "ana", "train", source="cli")  # another change: not a promotion
    append_audit(ws, _record("1", gates=[{"name": "min_roc_auc", "passed": True}]))

    events = read_events(ws)
    assert [e["action"] for e in events] == ["promote", "train"]
    assert events[0]["target"] == "m v1" and events[0]["source"] == "registry"
    [record] = read_audit(ws)
    assert record["id"] == events[0]["details"]["audit_id"]
    assert record["gates"] == [{"name": "min_roc_auc", "passed": True}]
    assert not ws.legacy_promotions_path.exists()  # nothing written outside the one log


def test_a_legacy_promotion_history_is_still_read_once(tmp_path):
    ws = Workspace(tmp_path)
    old = _record("1")
    append_jsonl(ws.legacy_promotions_path, old.to_dict())
    # what the old code also wrote to the audit log: an event without the record
    record_event(ws, "ana", "promote", "m v1", source="registry", details={"audit_id": old.id})
    time.sleep(0.002)
    append_audit(ws, _record("2"))

    assert [r["to_version"] for r in read_audit(ws)] == ["2", "1"]
    assert read_audit(ws)[1]["id"] == old.id
