"""Smoke-test rows (variant `smoke`) are logged but no reader counts them as traffic: drift and
performance windows, the variant comparison, lineage day counts, the Serving page's metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from api.metrics import Metrics
from app.views.serving_stats import parse_metrics, variant_split
from core.lineage import Lineage, _predictions
from core.monitoring.variants import compare_variants
from core.monitoring.window import log_window
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.workspace import Workspace

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _row(rid: str, variant: str, minutes_ago: float, x: int = 1) -> PredictionRecord:
    when = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return PredictionRecord(rid, when, "m", "1", variant, {"x": x}, 1, 0.9, 2.0, "ops")


def _workspace(root) -> Workspace:
    cfg = {"task": "classification", "target": "y"}
    (root / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    ws = Workspace.open(root)
    with PredictionLog(ws.predictions_dir) as log:
        log.append([_row(f"real{i}", "champion", 50 - i) for i in range(3)])
        log.append([_row(f"smoke{i}", "smoke", 40 - i, x=99) for i in range(5)])
        log.record_feedback("real0", 1, NOW.isoformat())
        log.record_feedback("smoke0", 0, NOW.isoformat())  # even a labelled smoke row
    return ws


def test_drift_and_performance_windows_leave_smoke_rows_out(tmp_path):
    ws = _workspace(tmp_path)
    for window in ("24h", "all", "100"):
        win = log_window(ws, window, now=NOW)
        assert sorted(win.frame["request_id"]) == ["real0", "real1", "real2"], window
        assert win.labelled == 1
        assert (win.frame["x"] == 1).all()  # the smoke rows' inputs never reach drift


def test_the_variant_comparison_has_no_smoke_variant(tmp_path):
    comparison = compare_variants(_workspace(tmp_path), "24h", now=NOW)
    assert [(v.variant, v.rows) for v in comparison.variants] == [("champion", 3)]
    assert not comparison.challenger_traffic


def test_lineage_counts_real_traffic_and_notes_the_smoke_rows(tmp_path):
    ws = _workspace(tmp_path)
    lineage = Lineage("m", "1")
    _predictions(ws, lineage, None)
    (day,) = lineage.of_kind("predictions")
    assert day.attrs["count"] == 3 and day.attrs["variants"] == {"champion": 3}
    assert day.attrs["smoke"] == 5
    assert "count=3 champion=3" in day.label and "smoke test: 5, not counted" in day.label


def test_a_day_of_smoke_rows_only_is_no_traffic_in_lineage(tmp_path):
    cfg = {"task": "classification", "target": "y"}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    ws = Workspace.open(tmp_path)
    with PredictionLog(ws.predictions_dir) as log:
        log.append([_row("smoke", "smoke", 10)])
    lineage = Lineage("m", "1")
    _predictions(ws, lineage, None)
    assert lineage.of_kind("predictions") == []


def test_the_serving_page_metrics_keep_smoke_records_apart():
    m = Metrics()
    m.predictions.labels("1", "champion").inc(30)
    m.predictions.labels("2", "shadow").inc(10)
    m.predictions.labels("1", "smoke").inc(1350)
    snap = parse_metrics(m.render().decode(), 0)
    assert snap.predictions == {("1", "champion"): 30, ("2", "shadow"): 10}
    assert snap.smoke == {"1": 1350}
    assert variant_split(snap)["records"].tolist() == [30, 10]
    assert sum(snap.predictions.values()) == 40  # the page's "Predicted records"
