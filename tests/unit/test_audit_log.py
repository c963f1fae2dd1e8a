"""core.audit: one append-only log of every change, with outcomes, read newest first."""

from __future__ import annotations

import pytest

from core import access
from core.audit import audit_log_path, audited, read_events, record_event
from core.errors import DataReadError
from core.registry.audit import AuditRecord, append_audit, read_audit
from core.workspace import Workspace


def test_events_are_appended_under_dot_workbench_and_read_newest_first_with_filters(tmp_path):
    ws = Workspace(tmp_path)
    record_event(ws, "ana", access.RUN_PIPELINE, source="ui")
    first = audit_log_path(ws).read_bytes()
    record_event(ws, "bo", access.RUN_JOB, "drift_check", source="ui")
    record_event(ws, "ana", access.RUN_JOB, "training_pipeline", reason="new data")

    assert audit_log_path(ws) == tmp_path / ".workbench" / "audit.jsonl"
    assert audit_log_path(ws).read_bytes().startswith(first)  # appended, never rewritten
    events = read_events(ws)
    assert [(e["actor"], e["action"], e["target"]) for e in events] == [
        ("ana", "run a job", "training_pipeline"),
        ("bo", "run a job", "drift_check"),
        ("ana", "run pipeline", ""),
    ]
    assert events[0]["outcome"] == "ok" and events[0]["reason"] == "new data"
    assert events[0]["time"].endswith("+00:00")
    assert [e["target"] for e in read_events(ws, actions=[access.RUN_JOB], actors=["ana"])] == [
        "training_pipeline"
    ]
    assert len(read_events(ws, limit=2)) == 2
    assert read_events(Workspace(tmp_path / "empty")) == []


def test_audited_records_ok_with_details_failed_with_the_error_and_refused_for_a_role(tmp_path):
    ws = Workspace(tmp_path)
    with audited(ws, "ana", access.IMPORT_LABELS, "labels.csv", source="ui") as details:
        details["rows"] = 3
    with pytest.raises(DataReadError), audited(ws, "ana", access.IMPORT_LABELS, "bad.csv"):
        raise DataReadError("bad.csv: not a CSV file")
    with pytest.raises(access.PermissionDenied), audited(ws, "bo", access.PROMOTE, "m v2"):
        access.require(["viewer"], access.PROMOTE, "bo")

    refused, failed, ok = read_events(ws)
    assert (ok["outcome"], ok["details"], ok["source"]) == ("ok", {"rows": 3}, "ui")
    assert (failed["outcome"], failed["reason"]) == ("failed", "bad.csv: not a CSV file")
    assert refused["outcome"] == "refused"
    assert refused["reason"] == "bo may not promote: the 'approver' role is required"


def test_a_promotion_record_is_an_event_and_the_promotion_history_keeps_its_shape(tmp_path):
    ws = Workspace(tmp_path)
    record = AuditRecord.new(
        actor="ana",
        action="rollback",
        model="m",
        from_version="2",
        to_version="1",
        reason="bad canary",
    )
    append_audit(ws, record)

    assert read_audit(ws) == [record.to_dict()]
    [event] = read_events(ws)
    assert (event["actor"], event["action"], event["target"]) == ("ana", "roll back", "m v1")
    assert event["reason"] == "bad canary" and event["outcome"] == "ok"
    assert event["details"] == {
        "audit_id": record.id,
        "from_version": "2",
        "to_version": "1",
        "forced": False,
        "record": record.to_dict(),  # the promotion history is read back from here
    }
