"""Promotion gates as pure functions: every gate passes and fails for the right reason."""

from __future__ import annotations

import json
import math

import pytest

from core.config import BeatChampionGate, GatesConfig
from core.errors import NotAnApprover
from core.registry.checks import (
    GateResult,
    Observations,
    gate_beat_champion,
    gate_latency,
    gate_min_metrics,
    gate_no_overfitting,
    gate_schema_compatible,
    run_gates,
)
from core.registry.gates import GateReport
from core.registry.promotion import require_approver

NAN = float("nan")


# --------------------------------------------------------------------------- min_metrics
def test_min_metrics_passes_when_every_metric_reaches_its_minimum():
    g = gate_min_metrics({"roc_auc": 0.71, "f1": 0.4}, {"roc_auc": 0.7, "f1": 0.4})
    assert g.passed and g.name == "min_metrics"
    assert g.observed == {"roc_auc": 0.71, "f1": 0.4}


def test_min_metrics_fails_naming_the_metric_below_its_minimum():
    g = gate_min_metrics({"roc_auc": 0.65, "f1": 0.5}, {"roc_auc": 0.7, "f1": 0.4})
    assert not g.passed
    assert "roc_auc 0.65 is not >= 0.7" in g.reason and "f1" not in g.reason


@pytest.mark.parametrize("value, passed", [(0.9, True), (1.0, True), (1.1, False)])
def test_min_metrics_treats_error_metrics_as_a_maximum(value, passed):
    g = gate_min_metrics({"rmse": value}, {"rmse": 1.0})
    assert g.passed is passed
    assert "<=" in g.reason


def test_min_metrics_fails_when_a_metric_is_missing_or_nan():
    assert not gate_min_metrics({}, {"roc_auc": 0.5}).passed
    g = gate_min_metrics({"roc_auc": NAN}, {"roc_auc": 0.5})
    assert not g.passed and "not available" in g.reason


# --------------------------------------------------------------------------- beat_champion
def test_beat_champion_passes_without_a_champion():
    g = gate_beat_champion("roc_auc", 0.6, None)
    assert g.passed and g.reason == "no champion yet"


def test_beat_champion_with_zero_margin_needs_a_strict_improvement():
    assert gate_beat_champion("roc_auc", 0.71, 0.70).passed
    tie = gate_beat_champion("roc_auc", 0.70, 0.70)
    assert not tie.passed and "needs > 0" in tie.reason
    assert not gate_beat_champion("roc_auc", 0.69, 0.70).passed


def test_beat_champion_absolute_margin():
    assert gate_beat_champion("roc_auc", 0.72, 0.70, min_delta=0.02).passed
    g = gate_beat_champion("roc_auc", 0.715, 0.70, min_delta=0.02)
    assert not g.passed and g.threshold == pytest.approx(0.02)
    assert g.observed["gain"] == pytest.approx(0.015)


def test_beat_champion_relative_margin_is_a_fraction_of_the_champion():
    # 5% of 0.8 = 0.04 needed
    assert gate_beat_champion("accuracy", 0.84, 0.80, min_delta=0.05, relative=True).passed
    g = gate_beat_champion("accuracy", 0.83, 0.80, min_delta=0.05, relative=True)
    assert not g.passed and g.threshold == pytest.approx(0.04)
    assert "of the champion" in g.reason


def test_beat_champion_lower_is_better_metric_needs_a_smaller_value():
    assert gate_beat_champion("rmse", 9.0, 10.0).passed
    assert not gate_beat_champion("rmse", 11.0, 10.0).passed
    # relative 10% of 10 = 1.0 needed
    assert gate_beat_champion("rmse", 9.0, 10.0, min_delta=0.1, relative=True).passed
    assert not gate_beat_champion("rmse", 9.5, 10.0, min_delta=0.1, relative=True).passed
    assert gate_beat_champion("log_loss", 0.40, 0.45, min_delta=0.05).passed


def test_beat_champion_negative_margin_tolerates_a_small_loss():
    assert gate_beat_champion("roc_auc", 0.695, 0.70, min_delta=-0.01).passed
    assert not gate_beat_champion("roc_auc", 0.68, 0.70, min_delta=-0.01).passed


def test_beat_champion_fails_on_nan():
    g = gate_beat_champion("roc_auc", NAN, 0.7)
    assert not g.passed and "not available" in g.reason


# --------------------------------------------------------------------------- no_overfitting
@pytest.mark.parametrize("flag, passed", [("false", True), ("true", False), ("True", False)])
def test_no_overfitting_follows_the_run_flag(flag, passed):
    g = gate_no_overfitting(flag)
    assert g.passed is passed
    if not passed:
        assert "overfit" in g.reason


def test_no_overfitting_passes_without_a_diagnosis_and_says_so():
    g = gate_no_overfitting(None)
    assert g.passed and "no overfitting diagnosis" in g.reason


# --------------------------------------------------------------------------- schema
CHAMP = {"distance": "double", "carrier": "string"}


def test_schema_passes_with_the_same_columns_and_extra_challenger_inputs():
    g = gate_schema_compatible({**CHAMP, "temp": "double"}, CHAMP)
    assert g.passed and "2 champion inputs" in g.reason


def test_schema_fails_on_a_missing_champion_column():
    g = gate_schema_compatible({"distance": "double"}, CHAMP)
    assert not g.passed and g.observed["missing"] == ["carrier"]
    assert "missing carrier" in g.reason


def test_schema_fails_on_a_changed_type():
    g = gate_schema_compatible({"distance": "long", "carrier": "string"}, CHAMP)
    assert not g.passed and g.observed["changed"] == {"distance": "double -> long"}


def test_schema_fails_without_a_challenger_signature_and_passes_without_a_champion():
    assert not gate_schema_compatible(None, CHAMP).passed
    assert gate_schema_compatible(None, None).passed
    assert gate_schema_compatible(CHAMP, None).passed


# --------------------------------------------------------------------------- latency
def test_latency_within_and_over_budget():
    assert gate_latency(0.2, 5.0).passed
    assert gate_latency(5.0, 5.0).passed
    g = gate_latency(7.5, 5.0)
    assert not g.passed and "7.5 ms/row > budget 5 ms/row" in g.reason
    assert not gate_latency(None, 5.0).passed


# --------------------------------------------------------------------------- composition
def test_run_gates_leaves_out_unconfigured_gates():
    cfg = GatesConfig(
        min_metrics={},
        beat_champion=None,
        no_overfitting=False,
        schema_compatible=False,
        max_latency_ms_per_row=None,
    )
    assert run_gates(cfg, "roc_auc", Observations(challenger={"roc_auc": 0.5})) == []


def test_run_gates_evaluates_every_configured_gate_against_the_champion():
    cfg = GatesConfig(min_metrics={"roc_auc": 0.6}, beat_champion=BeatChampionGate(min_delta=0.01))
    obs = Observations(
        challenger={"roc_auc": 0.70},
        champion={"roc_auc": 0.695},
        overfit_flag="false",
        challenger_schema=CHAMP,
        champion_schema=CHAMP,
        ms_per_row=0.01,
    )
    gates = {g.name: g for g in run_gates(cfg, "roc_auc", obs)}
    assert list(gates) == [
        "min_metrics",
        "beat_champion",
        "no_overfitting",
        "schema_compatible",
        "latency",
    ]
    assert [n for n, g in gates.items() if not g.passed] == ["beat_champion"]


def test_a_champion_that_cannot_score_fails_beat_champion_with_the_error():
    obs = Observations(challenger={"roc_auc": 0.7}, champion_error="KeyError: 'temp'")
    g = next(g for g in run_gates(GatesConfig(), "roc_auc", obs) if g.name == "beat_champion")
    assert not g.passed and "KeyError" in g.reason


def test_report_round_trips_through_strict_json():
    report = GateReport(
        model="m",
        version="2",
        champion_version="1",
        metric="roc_auc",
        data_version="d",
        holdout_rows=10,
        evaluated_at="2025-01-01T00:00:00+00:00",
        gates=[GateResult("latency", False, NAN, 5.0, "r"), GateResult("x", True, 1, 1, "ok")],
        metrics={"challenger": {"roc_auc": NAN}, "champion": None},
    )
    text = json.dumps(report.to_dict(), allow_nan=False)
    back = GateReport.from_dict(json.loads(text))
    assert back.status == "fail" and [g.name for g in back.failed] == ["latency"]
    assert back.gates[0].observed is None and back.metrics["champion"] is None
    assert "latency (r)" in back.failure_summary()
    assert math.isnan(report.gates[0].observed)  # the in-memory report is left as is


# --------------------------------------------------------------------------- promotion helpers
def test_require_approver_is_a_no_op_without_auth_and_checks_the_role_with_it():
    require_approver("anyone", None)
    require_approver("ana", {"ana": ["approver", "viewer"]})
    require_approver("bo", {"bo": "approver"})
    with pytest.raises(NotAnApprover, match="approver"):
        require_approver("cy", {"cy": ["viewer"]})
    with pytest.raises(NotAnApprover):
        require_approver("unknown", {"ana": ["approver"]})
