"""Retraining on sustained evidence: importance-weighted drift for N consecutive checks, a
realized performance drop at once, and performance windows that wait for their labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from core.config.monitoring import DriftConfig
from core.monitoring import trigger
from core.monitoring.drift import check_drift
from core.monitoring.history import record_check
from core.monitoring.importance import column_weights, permutation_importance
from core.monitoring.reference import build_profile
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.workspace import Workspace

WEATHER = ["temp", "humid", "pressure", "wind"]
IMPORTANCE = {"carrier_delay": 0.8, **{c: 0.05 for c in WEATHER}}
"""A model leaning on one column: today's weather hardly matters to it."""


@pytest.fixture
def ws(tmp_path) -> Workspace:
    cfg = {
        "task": "classification",
        "target": "y",
        "monitoring": {"retrain": {"triggers": ["dataset_drift"], "consecutive_checks": 3}},
    }
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    return Workspace.open(tmp_path)


@pytest.fixture(scope="module")
def profile():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(0, 1, 2000) for c in ["carrier_delay", *WEATHER]})
    built = build_profile(frame, list(frame.columns), seed=0)
    built.importance = dict(IMPORTANCE)
    return built


def _day(shifted: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(0, 1, 500) for c in ["carrier_delay", *WEATHER]})
    for column in shifted:
        frame[column] += 3.0
    return frame


def _check(ws, profile, shifted: list[str], seed: int) -> dict:
    """One recorded check of a day's window: its drift, then the retrain decision."""
    drift = check_drift(profile, _day(shifted, seed), DriftConfig())
    record = {
        "id": f"c{seed}",
        "time": datetime.now(UTC).isoformat(),
        "source": "log",
        "model": {"name": "m", "version": "1"},
        "drift": drift.to_json(),
        "performance": None,
    }
    record["retrain"] = trigger.decide_retrain(ws, record)
    record_check(ws, record)
    return record


def test_daily_weather_drift_on_low_importance_columns_never_retrains(ws, profile):
    checks = [_check(ws, profile, WEATHER, seed) for seed in range(6)]

    assert all(c["drift"]["dataset_drift"] for c in checks)  # 4 of 5 columns drifted each day
    assert all(c["drift"]["weighted_share"] < 0.3 for c in checks)
    assert all(c["retrain"] == [] for c in checks)
    assert trigger.pending_request(ws) is None


def test_sustained_drift_of_the_top_feature_retrains_on_the_nth_check(ws, profile):
    checks = [_check(ws, profile, ["carrier_delay"], seed) for seed in range(4)]

    assert not checks[0]["drift"]["dataset_drift"]  # 1 of 5 columns: not dataset drift...
    assert checks[0]["drift"]["weighted_share"] >= 0.8  # ...but most of what the model uses
    decisions = [c["retrain"][0] for c in checks]
    assert [d["requested"] for d in decisions] == [False, False, True, False]
    assert "1 of 3 consecutive checks" in decisions[0]["reason"]
    assert "2 of 3 consecutive checks" in decisions[1]["reason"]
    assert "in 3 consecutive checks" in decisions[2]["reason"]
    assert "% of the model's importance" in decisions[2]["reason"]
    assert "1 of 3 consecutive checks" in decisions[3]["reason"]  # restarted after the request
    request = trigger.pending_request(ws)
    assert request["trigger"] == "dataset_drift" and request["check_id"] == "c2"


def test_single_noisy_checks_between_clean_ones_never_retrain(ws, profile):
    days = [["carrier_delay"], [], ["carrier_delay"], ["carrier_delay"], [], ["carrier_delay"]]

    checks = [_check(ws, profile, shifted, seed) for seed, shifted in enumerate(days)]

    assert not any(d["requested"] for c in checks for d in c["retrain"])
    assert [c["retrain"][0].get("streak") if c["retrain"] else 0 for c in checks] == [
        1, 0, 1, 2, 0, 1,
    ]  # fmt: skip
    assert trigger.pending_request(ws) is None


def test_a_realized_performance_drop_asks_at_once_and_once_per_champion(ws):
    ws.config.monitoring.retrain.triggers = ["performance"]
    perf = {
        "metric": "roc_auc", "value": 0.61, "baseline": 0.74, "drop": 0.176, "max_drop": 0.05,
        "drifted": True, "labelled": 400,
    }  # fmt: skip
    record = {"id": "p1", "time": "2026-01-01T00:00:00+00:00", "source": "log",
              "model": {"version": "1"}, "drift": None, "performance": perf}  # fmt: skip

    record["retrain"] = trigger.decide_retrain(ws, record)
    record_check(ws, record)
    again = trigger.decide_retrain(ws, {**record, "id": "p2"}, since="2025-12-31T00:00:00+00:00")

    assert (
        record["retrain"][0]["requested"]
        and "0.6100 vs baseline 0.7400" in (record["retrain"][0]["reason"])
    )
    assert (
        not again[0]["requested"] and "already requested for v1 by check p1" in (again[0]["reason"])
    )


def test_permutation_importance_finds_the_column_the_model_uses():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"used": rng.normal(size=1500), "noise": rng.normal(size=1500)})
    y = pd.Series((X["used"] > 0).astype(int))
    model = LogisticRegression().fit(X, y)

    importance = permutation_importance(model, X, y, "classification", "roc_auc", seed=0)

    assert importance["used"] > 0.95 and importance["noise"] < 0.05
    assert sum(importance.values()) == pytest.approx(1.0)


def test_a_timestamps_importance_is_shared_by_its_date_parts():
    derive = {"date_parts": [{"column": "time_hour", "parts": ["hour", "month"]}]}
    raw = {"time_hour": 0.6, "carrier": 0.4}

    weights = column_weights(raw, ["carrier", "time_hour_hour", "time_hour_month"], derive)

    assert weights == pytest.approx({"carrier": 0.4, "time_hour_hour": 0.3, "time_hour_month": 0.3})


def _log(ws, rows: int, end: datetime, good: bool) -> None:
    """`rows` predictions, one a minute up to `end`, labelled (right when `good`)."""
    records, ids, actuals = [], [], []
    for i in range(rows):
        stamp = (end - timedelta(minutes=i)).isoformat()
        rid = f"{'g' if good else 'b'}{i}-{end:%H%M}"
        records.append(
            PredictionRecord(rid, stamp, "m", "1", "champion", {"x": float(i % 7)}, 1, 0.9, 1.0)
        )
        ids.append(rid)
        actuals.append(1 if good else 0)
    with PredictionLog(ws.predictions_dir) as log:
        log.append(records)
    with PredictionLog(ws.predictions_dir) as log:
        for rid, actual in zip(ids, actuals, strict=True):
            log.record_feedback(rid, actual)


def test_the_performance_window_ends_label_delay_before_the_check(tmp_path):
    from core.monitoring.check import run_check

    cfg = {
        "task": "classification",
        "target": "y",
        "monitoring": {
            "performance": {"metric": "accuracy", "label_delay": "6h", "min_labels": 10}
        },
    }
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    ws = Workspace.open(tmp_path)
    now = datetime.now(UTC)
    _log(ws, 60, now - timedelta(hours=1), good=False)  # last hour: labels not all in yet
    _log(ws, 60, now - timedelta(hours=7), good=True)  # 6-7 h ago: labels arrived
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"x": [float(i % 7) for i in range(200)], "y": 1}).to_csv(reference, index=False)

    result = run_check(ws, "3h", reference=reference, now=now, notify=False, record=False)

    assert len(result.window.frame) == 60  # drift looks at the last 3 h
    assert result.performance.labelled == 60  # performance at the 3 h ending 6 h ago
    assert result.performance.value == pytest.approx(1.0)
    span = result.to_record()["performance_window"]
    assert span["end"] < (now - timedelta(hours=6)).isoformat() < result.window.start
    assert "ending 6h earlier" in span["label"]


def _perf_check(ws, check_id: str, dropped: bool) -> dict:
    perf = {
        "metric": "roc_auc", "value": 0.61 if dropped else 0.74, "baseline": 0.74,
        "drop": 0.176 if dropped else 0.0, "max_drop": 0.05, "drifted": dropped, "labelled": 400,
    }  # fmt: skip
    record = {"id": check_id, "time": datetime.now(UTC).isoformat(), "source": "log",
              "model": {"version": "1"}, "drift": None, "performance": perf}  # fmt: skip
    record["retrain"] = trigger.decide_retrain(ws, record)
    record_check(ws, record)
    return record


def test_a_performance_drop_must_hold_performance_checks_in_a_row(ws):
    ws.config.monitoring.retrain.triggers = ["performance"]
    ws.config.monitoring.retrain.performance_checks = 2

    checks = [_perf_check(ws, f"p{i}", dropped) for i, dropped in enumerate([1, 0, 1, 1])]

    decisions = [c["retrain"][0] if c["retrain"] else None for c in checks]
    assert decisions[1] is None  # a clean check decides nothing (and breaks the streak)
    assert not decisions[0]["requested"] and not decisions[2]["requested"]
    assert (
        "1 of 2 consecutive checks (monitoring.retrain.performance_checks)"
        in (decisions[2]["reason"])
    )
    assert decisions[3]["requested"] and "in 2 consecutive checks" in decisions[3]["reason"]
    assert trigger.pending_request(ws)["check_id"] == "p3"


def test_min_weighted_share_zero_counts_the_plain_dataset_drift_verdict(ws, profile):
    ws.config.monitoring.retrain.consecutive_checks = 1
    ws.config.monitoring.retrain.min_weighted_share = 0

    check = _check(ws, profile, WEATHER, 0)  # 4 of 5 columns: dataset drift, little importance

    assert check["drift"]["dataset_drift"] and check["drift"]["weighted_share"] < 0.3
    assert check["retrain"][0]["requested"]


def test_a_checks_incidents_keep_the_clock_it_is_given(tmp_path):
    from core.incidents import read_incidents
    from core.monitoring.check import run_check

    cfg = {
        "task": "classification",
        "target": "y",
        "monitoring": {
            "alert_on": ["dataset_drift"],
        },
        "alerts": {"remind_after_minutes": 1440, "sinks": [{"type": "log"}]},
    }
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    ws = Workspace.open(tmp_path)
    now = datetime.now(UTC)
    _log(ws, 60, now, good=True)
    reference = tmp_path / "reference.csv"  # x far from the logged 0..6: dataset drift
    pd.DataFrame({"x": [float(i % 7 + 50) for i in range(200)], "y": 1}).to_csv(
        reference, index=False
    )
    day = datetime(2013, 1, 16, 3, tzinfo=UTC)

    def check(clock: datetime) -> dict:
        result = run_check(ws, "3h", reference=reference, now=now, clock=clock, notify=True)
        return result.alerts[0]

    opened = check(day)
    same_day = check(day + timedelta(hours=6))
    next_day = check(day + timedelta(days=1))

    assert opened["notice"] == "opened" and opened["time"] == "2013-01-16T03:00:00+00:00"
    assert same_day["notice"] is None  # 6 simulated hours: no reminder yet
    assert next_day["notice"] == "reminder"
    (incident,) = read_incidents(ws)
    assert incident["opened"] == "2013-01-16T03:00:00+00:00" and incident["notifications"] == 2


def test_a_condition_alerts_once_it_held_alert_after_checks_in_a_row(tmp_path):
    from core.incidents import read_incidents
    from core.monitoring.check import run_check

    cfg = {
        "task": "classification",
        "target": "y",
        "monitoring": {"alert_on": ["dataset_drift"], "alert_after_checks": 2},
        "alerts": {"sinks": [{"type": "log"}]},
    }
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    ws = Workspace.open(tmp_path)
    now = datetime.now(UTC)
    _log(ws, 60, now, good=True)
    shifted, same = tmp_path / "shifted.csv", tmp_path / "same.csv"
    for path, offset in ((shifted, 50), (same, 0)):
        frame = pd.DataFrame({"x": [float(i % 7 + offset) for i in range(200)], "y": 1})
        frame.to_csv(path, index=False)

    def check(reference) -> list[dict]:
        return run_check(ws, "3h", reference=reference, now=now, notify=True).alerts

    first, second, third = check(shifted), check(shifted), check(shifted)
    assert check(same) == []  # clean: resolves
    again = check(shifted)  # the streak starts over after a clean check

    assert first == [] and again == []
    assert second[0]["notice"] == "opened" and third[0]["notice"] is None
    (incident,) = read_incidents(ws)
    assert incident["status"] == "resolved" and incident["occurrences"] == 2


def _attribution_check(ws, seed: int, ndcg: float) -> dict:
    """A recorded check without dataset drift whose attribution nDCG is `ndcg` (threshold 0.9)."""
    record = {
        "id": f"a{seed}",
        "time": datetime.now(UTC).isoformat(),
        "source": "log",
        "model": {"name": "m", "version": "1"},
        "drift": {"dataset_drift": False, "share": 0.0, "columns": {}},
        "performance": None,
        "attribution_drift": {
            "ndcg": ndcg,
            "threshold": 0.9,
            "drifted": ndcg < 0.9,
            "method": "permutation",
            "current_importance": {"temp": 0.7, "carrier_delay": 0.2, "wind": 0.1},
        },
    }
    record["retrain"] = trigger.decide_retrain(ws, record)
    record_check(ws, record)
    return record


def test_attribution_drift_asks_only_when_it_is_a_trigger_and_sustained(ws, tmp_path):
    assert _attribution_check(ws, 0, 0.6)["retrain"] == []  # not in triggers: no decision

    cfg = yaml.safe_load((tmp_path / "workbench.yaml").read_text())
    cfg["monitoring"]["retrain"] = {"triggers": ["attribution_drift"], "consecutive_checks": 2}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    ws = Workspace.open(tmp_path)
    assert _attribution_check(ws, 1, 0.95)["retrain"] == []  # clean: the streak restarts
    [first] = _attribution_check(ws, 2, 0.7)["retrain"]
    assert not first["requested"] and "1 of 2 consecutive checks" in first["reason"]
    assert first["attribution"]["ndcg"] == 0.7
    [second] = _attribution_check(ws, 3, 0.72)["retrain"]

    assert second["requested"] and second["trigger"] == "attribution_drift"
    assert "importance ranking nDCG 0.720 < 0.90, permutation" in second["reason"]
    assert second["attribution"] == {
        "ndcg": 0.72,
        "threshold": 0.9,
        "drifted": True,
        "method": "permutation",
        "top_fields": ["temp", "carrier_delay", "wind"],
    }
    assert trigger.pending_request(ws)["trigger"] == "attribution_drift"
