"""Monitoring settings, performance arithmetic, windows and the retrain request file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core.config import load_config, parse_config
from core.config.monitoring import PerformanceConfig
from core.errors import ConfigError
from core.monitoring import performance as perf
from core.monitoring import trigger
from core.monitoring.window import WindowError, describe, parse_window
from core.workspace import Workspace

DEMO_CONFIGS = Path(__file__).resolve().parents[2] / "core" / "workspace" / "demo_configs"
BASE = {"task": "classification", "target": "y"}


@pytest.mark.parametrize("name", ["flights", "computers"])
def test_demo_configs_have_valid_monitoring_and_alerts_sections(name):
    cfg = load_config(DEMO_CONFIGS / f"{name}.yaml")

    assert cfg.monitoring.alert_on
    assert cfg.alerts.sinks[0].type == "log"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"monitoring": {"window": "3 days"}}, "key 'monitoring.window'"),
        ({"monitoring": {"drift": {"share": 1.5}}}, "key 'monitoring.drift.share'"),
        ({"monitoring": {"drift": {"categorical": {"method": "ks"}}}}, "categorical.method 'ks'"),
        ({"monitoring": {"drift": {"numeric": {"method": "kl"}}}}, "monitoring.drift.numeric"),
        ({"monitoring": {"retrain": {"triggers": ["rain"]}}}, "monitoring.retrain.triggers"),
        ({"monitoring": {"performance": {"metric": "rmse"}}}, "monitoring.performance.metric"),
        ({"alerts": {"sinks": [{"type": "webhook", "url": "x"}]}}, "alerts.sinks[0].url"),
        ({"alerts": {"sinks": [{"type": "email", "host": "h"}]}}, "alerts.sinks[0].sender"),
        ({"alerts": {"sinks": [{"type": "pager"}]}}, "alerts.sinks[0]"),
    ],
)
def test_bad_monitoring_settings_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config({**BASE, **section}, "workbench.yaml")


@pytest.mark.parametrize(
    ("text", "parsed", "label"),
    [
        ("24h", ("duration", 86400.0), "last 24h"),
        ("90m", ("duration", 5400.0), "last 90m"),
        ("2w", ("duration", 1209600.0), "last 2w"),
        ("5000", ("rows", 5000), "last 5,000 predictions"),
        ("all", ("all", None), "whole log"),
    ],
)
def test_windows_are_durations_row_counts_or_everything(text, parsed, label):
    assert parse_window(text) == parsed
    assert describe(text) == label


@pytest.mark.parametrize("text", ["", "0", "-3h", "24 hours", "1y"])
def test_bad_windows_are_refused_with_the_accepted_forms(text):
    with pytest.raises(WindowError, match="24h, 7d"):
        parse_window(text)


def test_relative_drop_is_positive_when_worse_for_both_directions():
    assert perf.relative_drop("roc_auc", 0.76, 0.80) == pytest.approx(0.05)
    assert perf.relative_drop("roc_auc", 0.84, 0.80) == pytest.approx(-0.05)
    assert perf.relative_drop("rmse", 110.0, 100.0) == pytest.approx(0.10)
    assert perf.relative_drop("rmse", 90.0, 100.0) == pytest.approx(-0.10)


def labelled(n: int, correct: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right = rng.random(n) < correct
    pred = np.where(right, y, 1 - y)
    proba = np.where(pred == 1, 0.8, 0.2)
    return pd.DataFrame({"y": y, "prediction": pred, "probability": proba})


def test_a_drop_beyond_the_configured_share_is_performance_drift():
    cfg = PerformanceConfig(max_drop=0.05, min_labels=30)
    baseline = {"accuracy": 0.9}

    good = perf.evaluate(labelled(400, 0.9), "y", "classification", "accuracy", baseline, cfg)
    bad = perf.evaluate(labelled(400, 0.7), "y", "classification", "accuracy", baseline, cfg)

    assert not good.drifted and abs(good.drop) < 0.05
    assert bad.drifted and bad.drop == pytest.approx((0.9 - bad.value) / 0.9)
    assert bad.to_json()["metrics"]["accuracy"] == pytest.approx(bad.value)


def test_too_few_labels_give_no_verdict_and_no_labels_no_result():
    frame = labelled(40, 0.5)
    frame.loc[10:, "y"] = np.nan
    cfg = PerformanceConfig(min_labels=30)

    few = perf.evaluate(frame, "y", "classification", "accuracy", {"accuracy": 0.9}, cfg)
    none = perf.evaluate(frame.assign(y=np.nan), "y", "classification", "accuracy", None, cfg)

    assert few.labelled == 10 and not few.drifted and "fewer than min_labels" in few.note
    assert none is None


def test_labels_as_text_are_compared_with_numeric_predictions():
    frame = labelled(200, 1.0)
    frame["y"] = frame["y"].astype(str)

    metrics = perf.window_metrics(frame, "y", "classification")

    assert metrics["accuracy"] == 1.0 and metrics["roc_auc"] == 1.0


def test_performance_over_time_has_one_row_per_bucket():
    frame = labelled(48, 1.0).assign(
        time=pd.date_range("2024-05-01", periods=48, freq="h", tz="UTC").astype(str)
    )

    daily = perf.over_time(frame, "y", "classification", "accuracy", "day")
    weekly = perf.over_time(frame, "y", "classification", "accuracy", "week")

    assert daily["labelled"].tolist() == [24, 24]
    assert daily["accuracy"].tolist() == [1.0, 1.0]
    assert weekly["start"].tolist() == [pd.Timestamp("2024-04-29", tz="UTC")]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(BASE))
    return Workspace.open(tmp_path)


def test_one_retrain_request_is_pending_at_a_time_and_taken_once(ws):
    first = trigger.request_retrain(ws, "performance", "roc_auc 9% worse", check_id="c1")
    second = trigger.request_retrain(ws, "manual", "please", by="ana")

    assert first["requested"] and not second["requested"]
    assert "already pending" in second["reason"]
    taken = trigger.take_request(ws, by="scheduler")
    assert (taken["trigger"], taken["reason"], taken["check_id"]) == (
        "performance",
        "roc_auc 9% worse",
        "c1",
    )
    assert trigger.take_request(ws) is None
    assert trigger.pending_request(ws) is None
    assert [d["requested"] for d in trigger.read_decisions(ws)] == [True, False, True]
    assert trigger.request_retrain(ws, "manual", "again")["requested"]


def _profile_with_sample(sample: pd.DataFrame):
    from core.monitoring.reference import ReferenceProfile

    return ReferenceProfile(columns={}, rows=len(sample), sample=sample)


def test_performance_report_for_regression_and_for_many_classes(tmp_path):
    from core.monitoring.report import write_performance_report

    rng = np.random.default_rng(1)
    y = rng.normal(size=400)
    frame = pd.DataFrame({"y": y, "prediction": y + rng.normal(scale=0.3, size=400)})
    frame.loc[:99, "y"] = np.nan  # unlabelled rows are left out
    out = write_performance_report(
        _profile_with_sample(frame.iloc[100:]), frame, "y", "regression", tmp_path / "r.html"
    )
    assert out == tmp_path / "r.html" and "MAE" in out.read_text() and "R2" in out.read_text()

    labels = rng.choice(["a", "b", "c"], size=300)
    classes = pd.DataFrame({"y": labels, "prediction": np.roll(labels, 1), "probability": None})
    out = write_performance_report(
        _profile_with_sample(classes), classes, "y", "classification", tmp_path / "c.html"
    )
    assert "Accuracy" in out.read_text() and "ROC AUC" not in out.read_text()

    unlabelled = classes.assign(y=None)
    assert (
        write_performance_report(
            _profile_with_sample(classes), unlabelled, "y", "classification", tmp_path / "n.html"
        )
        is None
    )
