"""The pages' table, text and figure builders, on small inputs (no browser, no Streamlit run)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pandas as pd

from app.views import data, drift, experiments, jobs, models, overview, serving

RUNS = [
    {
        "id": 2,
        "job": "drift_check",
        "status": "failed",
        "trigger": "cron",
        "owner": "host:1",
        "started_at": "2024-05-01T10:00:00+00:00",
        "duration_s": 1.25,
        "message": None,
    },
    {
        "id": 1,
        "job": "data_pipeline",
        "status": "ok",
        "trigger": "manual",
        "owner": "host:1",
        "started_at": "2024-05-01T09:00:00+00:00",
        "duration_s": None,
        "message": "reading",
    },
]


def test_models_default_version_prefers_the_challenger_then_the_newest_non_champion():
    rows = [
        {"version": "3", "aliases": [], "gates": "-"},
        {"version": "2", "aliases": ["challenger"], "gates": "pass"},
        {"version": "1", "aliases": ["champion"], "gates": "pass"},
    ]
    assert models.default_version(rows, "1") == "2"
    assert models.default_version(rows[:1] + rows[2:], "1") == "3"
    assert models.default_version(rows[2:], "1") == "1"
    assert models.version_label(rows, "2") == "v2 · challenger · gates pass"


def test_models_audit_label_names_the_change_and_a_forced_promotion():
    record = {
        "time": "2024-05-01T10:00:00+00:00",
        "action": "promote",
        "from_version": "1",
        "to_version": "2",
        "actor": "ana",
        "forced": True,
    }
    assert models.audit_label(record) == "2024-05-01 10:00 UTC · promote v1 → v2 · ana · forced"


def test_jobs_filters_runs_and_describes_one():
    assert [r["id"] for r in jobs.filter_runs(RUNS, [], [])] == [2, 1]
    assert [r["id"] for r in jobs.filter_runs(RUNS, ["data_pipeline"], [])] == [1]
    assert jobs.filter_runs(RUNS, ["data_pipeline"], ["failed"]) == []
    assert jobs.run_caption(RUNS[0]).endswith("· 1.2 s · by `host:1`")
    assert "running" in jobs.run_caption(RUNS[1])
    now = datetime(2024, 5, 1, 9, 1, 5, tzinfo=UTC)
    assert jobs.progress_text(RUNS[1], now).endswith("· 1 min 5 s · reading")


def test_overview_tables_show_readable_times_and_the_asked_columns():
    runs = overview.runs_frame(
        [
            {
                "started_at": "2024-05-01T10:00:00+00:00",
                "status": "ok",
                "batches": [{}, {}],
                "version": {"id": "v3"},
                "message": "m",
            }
        ]
    )
    assert runs.iloc[0].to_dict() == {
        "started": "2024-05-01 10:00 UTC",
        "status": "ok",
        "batches": 2,
        "version": "v3",
        "message": "m",
    }
    alerts = [{"time": "2024-05-01T10:00:00+00:00", "severity": "warning", "kind": "drift"}]
    frame = overview.alerts_frame(alerts, ("time", "severity", "message"))
    assert list(frame.columns) == ["time", "severity"]


def test_drift_alerts_say_how_they_were_delivered():
    alerts = [
        {
            "time": "2024-05-01T10:00:00+00:00",
            "kind": "drift",
            "delivery": {"sent": {"slack": "ok", "email": "failed"}},
        },
        {
            "time": "2024-05-01T09:00:00+00:00",
            "kind": "drift",
            "delivery": {"suppressed": "cooldown"},
        },
    ]
    frame = drift.alerts_frame(alerts)
    assert list(frame["delivery"]) == ["slack ok, email failed", "cooldown"]
    assert list(frame.columns) == ["time", "kind", "delivery"]


def test_drift_decisions_are_newest_first_and_a_check_message_has_its_level():
    decisions = [
        {"time": "2024-05-01T09:00:00+00:00", "requested": False, "reason": "a"},
        {"time": "2024-05-01T10:00:00+00:00", "requested": True, "reason": "b"},
    ]
    assert list(drift.decisions_frame(decisions)["reason"]) == ["b", "a"]
    skipped = SimpleNamespace(skipped="too few predictions")
    assert drift.check_message(skipped) == ("too few predictions", "warning")
    done = SimpleNamespace(
        skipped=None,
        drift=SimpleNamespace(dataset_drift=True),
        fired=["drift"],
        report_error=None,
        window=SimpleNamespace(label="last 24h"),
    )
    assert drift.check_message(done) == ("Checked last 24h: dataset drift; drift.", "success")


def test_drift_log_checks_keep_checks_of_the_log_that_ran_newest_first():
    records = [
        {"id": "a", "source": "log"},
        {"id": "b", "source": "log", "skipped": "few"},
        {"id": "c", "source": "table"},
        {"id": "d", "source": "log"},
    ]
    assert [r["id"] for r in drift.log_checks(records)] == ["d", "a"]


def test_data_tables_and_counts():
    run = {"batches": [{"name": "a.csv", "status": "quarantined", "stage": "raw", "reason": "r"}]}
    assert data.batches_frame(run).iloc[0].to_dict() == {
        "batch": "a.csv",
        "status": "quarantined",
        "rows": 0,
        "warnings": 0,
        "rejected at": "raw",
        "reason": "r",
    }
    rep = SimpleNamespace(results=[SimpleNamespace(status=s) for s in ("pass", "fail", "fail")])
    assert data.status_counts([("a.csv", rep)]) == {"pass": 1, "warn": 0, "fail": 2}
    assert data.report_file_name("/ws/reports/batch-1/raw.json") == "batch-1_raw.html"


def test_data_distribution_figure_is_a_bar_for_categories_and_a_histogram_otherwise():
    sample = pd.DataFrame({"carrier": ["UA", "UA", "AA"], "delay": [1.0, 2.0, 3.0]})
    assert data.distribution_figure(sample, "carrier", True).data[0].type == "bar"
    assert data.distribution_figure(sample, "delay", False).data[0].type == "histogram"


def test_experiments_selection_text_says_how_the_winner_was_registered():
    sel = {
        "data_version": "v2",
        "metric": "roc_auc",
        "candidate": "knn",
        "run_id": "abcdef123",
        "val": 0.9,
        "test": None,
        "refit": True,
        "refit_test": 0.91,
    }
    text = experiments.selection_text(sel)
    assert "**knn** `abcdef12` (val 0.9000, test n/a)" in text
    assert text.endswith("(refit test 0.9100)")
    assert experiments.selection_text({**sel, "refit": False}).endswith("as fitted on train")
    assert experiments.widget_key("k", [1, 2]) == experiments.widget_key("k", [1, 2])
    assert experiments.widget_key("k", [1, 2]) != experiments.widget_key("k", [2, 1])


def test_serving_record_text_and_latency():
    fields = [("distance", "double"), ("carrier", "string")]
    record = serving.record({"distance": 10.0, "carrier": "UA"}, fields, ["carrier"])
    assert record == {"distance": 10.0, "carrier": None}
    body = {
        "predictions": [1],
        "probabilities": [0.8123],
        "variant": "champion",
        "model": {"name": "m", "version": "3", "alias": "champion"},
    }
    assert serving.prediction_text(body) == (
        "Prediction **1** · probability 0.812 · answered by **m v3** (alias `champion`, "
        "variant `champion`)"
    )
    assert serving.ms(None) == "-" and serving.ms(0.01234) == "12.3 ms"
