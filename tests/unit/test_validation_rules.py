"""Every validation rule on small in-memory frames: pass, fail, warn and odd data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from core.config import Rule
from core.data.validation import validate_frame

NOW = pd.Timestamp("2024-03-10T12:00:00", tz="UTC")
_ADAPTER = TypeAdapter(Rule)


def run(df: pd.DataFrame, **rule):
    """Validate `df` against one rule (given as keyword arguments) and return its results."""
    report = validate_frame(
        df, [_ADAPTER.validate_python(rule)], stage="raw", source="t.csv", now=NOW
    )
    return report.results


def one(df: pd.DataFrame, **rule):
    (result,) = run(df, **rule)
    return result


@pytest.fixture
def flights() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "origin": ["EWR", "JFK", "LGA", "JFK", "EWR", "LGA"],
            "dep_delay": [0.0, 15.0, -3.0, 120.0, 7.0, 2.0],
            "seats": [100, 150, 180, 150, 90, 120],
            "time": pd.date_range("2024-03-09", periods=6, freq="h"),
        }
    )


# --------------------------------------------------------------------------- required_columns
def test_required_columns_passes_when_all_present(flights):
    result = one(flights, rule="required_columns", columns=["origin", "seats"])
    assert result.passed and result.column is None and result.observed == ""


def test_required_columns_lists_the_missing_ones(flights):
    result = one(flights, rule="required_columns", columns=["origin", "dest", "carrier"])
    assert result.status == "fail"
    assert result.observed == "dest, carrier"
    assert "dest" in result.message


# --------------------------------------------------------------------------- dtype
@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("dep_delay", "float"),
        ("dep_delay", "numeric"),
        ("seats", "integer"),
        ("seats", "float"),
        ("origin", "string"),
        ("origin", "category"),
        ("time", "datetime"),
    ],
)
def test_dtype_passes_for_a_column_already_of_that_kind(flights, column, kind):
    result = one(flights, rule="dtype", column=column, dtype=kind)
    assert result.passed, result.message
    assert result.observed == str(flights[column].dtype)


def test_dtype_fails_for_a_numeric_column_declared_string(flights):
    result = one(flights, rule="dtype", column="seats", dtype="string")
    assert not result.passed and result.failing_count == 6


def test_dtype_accepts_numeric_strings_and_reports_garbage_rows():
    df = pd.DataFrame({"x": ["1", "2.5", None, "abc", 7, "1e3", "n/a"]})
    result = one(df, rule="dtype", column="x", dtype="numeric")
    assert not result.passed
    assert result.observed == "object"
    assert result.failing_count == 2
    assert [r["_row"] for r in result.failing_rows] == [3, 6]
    assert [r["x"] for r in result.failing_rows] == ["abc", "n/a"]


def test_dtype_passes_an_object_column_whose_values_all_parse():
    df = pd.DataFrame({"x": ["1", "2", None, 3]})
    assert one(df, rule="dtype", column="x", dtype="integer").passed


def test_dtype_integer_rejects_fractional_values():
    assert (
        one(
            pd.DataFrame({"x": ["1", "2.5"]}), rule="dtype", column="x", dtype="integer"
        ).failing_count
        == 1
    )
    floats = pd.DataFrame({"x": [1.0, np.nan, 3.0]})
    assert one(floats, rule="dtype", column="x", dtype="integer").passed
    assert not one(
        pd.DataFrame({"x": [1.0, 2.5]}), rule="dtype", column="x", dtype="integer"
    ).passed


def test_dtype_datetime_parses_iso_and_mixed_strings():
    good = pd.DataFrame({"t": ["2024-01-01", "2024-01-02T10:00:00+01:00", "Jan 3 2024", None]})
    assert one(good, rule="dtype", column="t", dtype="datetime").passed
    bad = pd.DataFrame({"t": ["2024-01-01", "yesterday", 5]})
    result = one(bad, rule="dtype", column="t", dtype="datetime")
    assert result.failing_count == 2 and [r["_row"] for r in result.failing_rows] == [1, 2]


def test_dtype_bool_accepts_bool_like_values():
    assert one(pd.DataFrame({"b": [True, False]}), rule="dtype", column="b", dtype="bool").passed
    mixed = pd.DataFrame({"b": ["true", "False", 0, 1, None]})
    assert one(mixed, rule="dtype", column="b", dtype="bool").passed
    assert not one(
        pd.DataFrame({"b": ["yes", "true"]}), rule="dtype", column="b", dtype="bool"
    ).passed
    assert not one(pd.DataFrame({"b": [0, 2]}), rule="dtype", column="b", dtype="bool").passed


# --------------------------------------------------------------------------- missing_rate
def test_missing_rate_checks_every_column_with_star(flights):
    results = run(flights, rule="missing_rate", columns=["*"], max=0.1)
    assert [r.column for r in results] == list(flights.columns)
    assert all(r.passed and r.observed == 0.0 for r in results)


def test_missing_rate_fails_above_max_with_rounded_share():
    df = pd.DataFrame({"temp": [1.0, None, None, 4.0, 5.0, 6.0]})
    result = one(df, rule="missing_rate", columns=["temp"], max=0.1)
    assert result.status == "fail"
    assert result.observed == 0.3333
    assert result.threshold == "<= 0.1"
    assert "temp" in result.message and "0.1" in result.message
    assert result.failing_count == 2 and [r["_row"] for r in result.failing_rows] == [1, 2]


def test_missing_rate_counts_none_nan_and_nat_in_object_columns():
    df = pd.DataFrame({"x": ["a", None, np.nan, pd.NaT, "b"]})
    assert one(df, rule="missing_rate", columns=["x"], max=1.0).observed == 0.6


def test_missing_rate_warn_severity_gives_warn_status():
    df = pd.DataFrame({"x": [None, 1.0]})
    result = one(df, rule="missing_rate", columns=["x"], max=0.1, severity="warn")
    assert not result.passed and result.status == "warn"


def test_missing_rate_on_empty_frame_is_zero():
    result = one(pd.DataFrame({"x": []}), rule="missing_rate", columns=["x"])
    assert result.passed and result.observed == 0


def test_missing_rate_of_all_null_column_is_one():
    result = one(pd.DataFrame({"x": [None, None]}), rule="missing_rate", columns=["x"])
    assert result.observed == 1.0 and not result.passed


# --------------------------------------------------------------------------- range
def test_range_passes_inside_bounds(flights):
    result = one(flights, rule="range", column="seats", min=0, max=200)
    assert result.passed and result.threshold == "share not in [0.0, 200.0] <= 0.0"


def test_range_fails_and_shows_offending_rows(flights):
    result = one(flights, rule="range", column="dep_delay", min=0, max=60)
    assert result.status == "fail"
    assert result.failing_count == 2
    assert [r["dep_delay"] for r in result.failing_rows] == [-3.0, 120.0]
    assert result.observed == round(2 / 6, 4)


def test_range_tolerates_share_up_to_max_rate(flights):
    assert one(flights, rule="range", column="dep_delay", min=0, max=60, max_rate=0.4).passed


def test_range_with_one_bound_ignores_nulls_and_coerces_strings():
    df = pd.DataFrame({"x": ["5", None, "-1", "abc"]})
    result = one(df, rule="range", column="x", min=0)
    assert result.failing_count == 1 and result.failing_rows[0]["_row"] == 2
    assert result.threshold == "share not >= 0.0 <= 0.0"


def test_range_limits_failing_rows_to_the_configured_number():
    df = pd.DataFrame({"x": np.arange(100.0)})
    rule = _ADAPTER.validate_python({"rule": "range", "column": "x", "max": 10})
    report = validate_frame(df, [rule], stage="raw", source="s", failing_rows=3)
    assert report.results[0].failing_count == 89
    assert [r["_row"] for r in report.results[0].failing_rows] == [11, 12, 13]


# --------------------------------------------------------------------------- allowed_values
def test_allowed_values_passes_for_known_values(flights):
    assert one(flights, rule="allowed_values", column="origin", values=["EWR", "JFK", "LGA"]).passed


def test_allowed_values_fails_for_unexpected_value(flights):
    result = one(flights, rule="allowed_values", column="origin", values=["EWR", "JFK"])
    assert result.failing_count == 2
    assert {r["origin"] for r in result.failing_rows} == {"LGA"}
    assert result.threshold == "share not one of ['EWR', 'JFK'] <= 0.0"


def test_allowed_values_compares_object_columns_as_strings():
    df = pd.DataFrame({"code": ["1", 2, "3", None]})
    assert one(df, rule="allowed_values", column="code", values=[1, 2, 3]).passed


def test_allowed_values_on_numeric_column(flights):
    result = one(flights, rule="allowed_values", column="seats", values=[100, 150, 180])
    assert result.failing_count == 2


def test_allowed_values_on_categorical_column():
    df = pd.DataFrame({"c": pd.Categorical(["a", "b", None, "z"])})
    result = one(df, rule="allowed_values", column="c", values=["a", "b"])
    assert result.failing_count == 1 and result.failing_rows[0]["c"] == "z"


# --------------------------------------------------------------------------- duplicates
def test_duplicates_passes_without_repeats(flights):
    result = one(flights, rule="duplicates", max=0.0)
    assert result.passed and result.column is None


def test_duplicates_counts_rows_repeating_an_earlier_row():
    df = pd.DataFrame({"a": [1, 2, 1, 1, np.nan, np.nan], "b": ["x", "y", "x", "x", None, None]})
    result = one(df, rule="duplicates", max=0.1)
    assert result.failing_count == 3
    assert [r["_row"] for r in result.failing_rows] == [2, 3, 5]
    assert result.observed == 0.5


def test_duplicates_on_subset_of_columns(flights):
    result = one(flights, rule="duplicates", columns=["origin"], max=0.0)
    assert result.failing_count == 3


def test_duplicates_matches_pandas_on_awkward_dtypes():
    df = pd.DataFrame(
        {
            "f": [0.0, -0.0, np.nan, np.nan, 1.5, 1.5],
            "t": pd.to_datetime(["2024-01-01"] * 6).tz_localize("Europe/Paris"),
            "n": pd.array([1, 1, None, None, 2, 2], dtype="Int64"),
            "c": pd.Categorical(["a", "a", "b", "b", "a", "a"]),
        }
    )
    result = one(df, rule="duplicates", max=1.0)
    assert result.failing_count == int(df.duplicated().sum()) == 3


@pytest.mark.parametrize("columns", [None, ["a", "s"], ["f"]])
def test_duplicates_agree_with_pandas_on_a_large_low_cardinality_frame(columns):
    rng = np.random.default_rng(3)
    n = 100_000  # above the size where row keys are screened through a bitmap
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 40, n),
            "f": rng.choice([0.5, -0.0, 0.0, np.nan], n),
            "s": rng.choice(np.array(["x", "y", None], dtype=object), n),
            "u": rng.normal(size=n).round(1),
        }
    )
    result = one(df, rule="duplicates", columns=columns, max=1.0)
    assert result.failing_count == int(df.duplicated(subset=columns).sum())


def test_duplicates_with_absent_subset_column_fails(flights):
    result = one(flights, rule="duplicates", columns=["nope"])
    assert not result.passed and "column 'nope' is missing" in result.message


# --------------------------------------------------------------------------- row_count
def test_row_count_inclusive_bounds(flights):
    assert one(flights, rule="row_count", min=6, max=6).passed
    result = one(flights, rule="row_count", min=10)
    assert not result.passed and result.observed == 6 and result.threshold == ">= 10"


def test_row_count_fails_on_empty_frame():
    assert one(pd.DataFrame({"x": []}), rule="row_count").status == "fail"


# --------------------------------------------------------------------------- outliers
def _spiky() -> pd.DataFrame:
    values = np.r_[np.linspace(-1, 1, 99), 50.0]
    return pd.DataFrame({"x": values})


def test_outliers_iqr_flags_the_spike():
    result = one(_spiky(), rule="outliers", column="x", method="iqr", threshold=1.5, max_rate=0)
    assert result.failing_count == 1 and result.failing_rows[0]["x"] == 50.0


def test_outliers_zscore_flags_the_spike_and_tolerates_max_rate():
    assert not one(_spiky(), rule="outliers", column="x", method="zscore", max_rate=0).passed
    assert one(_spiky(), rule="outliers", column="x", method="zscore", max_rate=0.02).passed


def test_outliers_pass_on_normal_data():
    df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=1000)})
    assert one(df, rule="outliers", column="x", method="iqr", threshold=3.0).passed


@pytest.mark.parametrize("values", [[5.0] * 10, [np.nan] * 10, []])
@pytest.mark.parametrize("method", ["zscore", "iqr"])
def test_outliers_constant_null_or_empty_column_has_none(values, method):
    result = one(
        pd.DataFrame({"x": values}, dtype=float),
        rule="outliers",
        column="x",
        method=method,
        max_rate=0,
    )
    assert result.passed and result.failing_count == 0


# --------------------------------------------------------------------------- class_balance
def test_class_balance_passes_when_every_class_is_big_enough(flights):
    result = one(flights, rule="class_balance", column="origin", min_share=0.3)
    assert result.passed and result.observed == round(2 / 6, 4)


def test_class_balance_fails_naming_the_smallest_class():
    df = pd.DataFrame({"y": ["a"] * 19 + ["b"] + [None] * 5})
    result = one(df, rule="class_balance", column="y", min_share=0.1)
    assert not result.passed and result.observed == 0.05 and "'b'" in result.message


def test_class_balance_fails_with_a_single_class():
    result = one(pd.DataFrame({"y": [1, 1, 1]}), rule="class_balance", column="y")
    assert not result.passed and "only one class" in result.message


def test_class_balance_fails_on_all_null_column():
    result = one(pd.DataFrame({"y": [None, None]}), rule="class_balance", column="y")
    assert not result.passed


# --------------------------------------------------------------------------- freshness
def test_freshness_now_passes_for_recent_data(flights):
    result = one(flights, rule="freshness", column="time", max_age_days=2)
    assert result.passed and result.observed == "2024-03-09T05:00:00+00:00"


def test_freshness_now_fails_for_old_data(flights):
    result = one(flights, rule="freshness", column="time", max_age_days=1)
    assert result.status == "fail" and "days old" in result.message


def test_freshness_handles_tz_aware_columns_and_strings():
    aware = pd.DataFrame({"t": pd.to_datetime(["2024-03-10T13:00:00+02:00"])})
    assert one(aware, rule="freshness", column="t", max_age_days=0.1).passed
    text = pd.DataFrame({"t": ["2024-03-10T11:00:00Z", "garbage", None]})
    assert one(text, rule="freshness", column="t", max_age_days=0.1).passed


def test_freshness_previous_detects_a_stale_batch(flights):
    rule = _ADAPTER.validate_python(
        {"rule": "freshness", "column": "time", "max_age_days": 1, "reference": "previous"}
    )
    later = {"time": pd.Timestamp("2024-03-12")}  # tz-naive counts as UTC
    stale = validate_frame(flights, [rule], stage="raw", source="s", previous_max=later)
    assert stale.results[0].status == "fail"
    earlier = {"time": pd.Timestamp("2024-03-09T06:00:00", tz="UTC")}
    fresh = validate_frame(flights, [rule], stage="raw", source="s", previous_max=earlier)
    assert fresh.results[0].passed


def test_freshness_previous_without_history_passes(flights):
    result = one(flights, rule="freshness", column="time", reference="previous")
    assert result.passed and "no previous version" in result.message


def test_freshness_fails_without_parseable_timestamps():
    result = one(pd.DataFrame({"t": ["x", None]}), rule="freshness", column="t")
    assert not result.passed and "no parseable timestamps" in result.message


# --------------------------------------------------------------------------- robustness
COLUMN_RULES = [
    {"rule": "dtype", "column": "ghost", "dtype": "numeric"},
    {"rule": "missing_rate", "columns": ["ghost"]},
    {"rule": "range", "column": "ghost", "min": 0},
    {"rule": "allowed_values", "column": "ghost", "values": ["a"]},
    {"rule": "outliers", "column": "ghost"},
    {"rule": "class_balance", "column": "ghost"},
    {"rule": "freshness", "column": "ghost"},
]


@pytest.mark.parametrize("rule", COLUMN_RULES, ids=lambda r: r["rule"])
@pytest.mark.parametrize("severity", ["fail", "warn"])
def test_rule_on_absent_column_fails_with_its_severity(flights, rule, severity):
    result = one(flights, **rule, severity=severity)
    assert result.status == severity
    assert result.message == "column 'ghost' is missing"


WEIRD = {
    "empty": pd.DataFrame({"x": pd.Series([], dtype=object)}),
    "all_null": pd.DataFrame({"x": [None, None, None]}),
    "all_nan": pd.DataFrame({"x": [np.nan, np.nan]}),
    "mixed": pd.DataFrame({"x": [1, "a", 2.5, None, True, pd.Timestamp("2024-01-01"), b"z"]}),
    "lists": pd.DataFrame({"x": [[1], [1, 2], None]}),
}


@pytest.mark.parametrize("name", list(WEIRD))
@pytest.mark.parametrize(
    "rule",
    [{**r, "column": "x"} if "column" in r else {**r, "columns": ["x"]} for r in COLUMN_RULES]
    + [
        {"rule": "duplicates"},
        {"rule": "row_count"},
        {"rule": "required_columns", "columns": ["x"]},
    ],
    ids=lambda r: r["rule"],
)
def test_rules_never_raise_on_weird_data(name, rule):
    results = run(WEIRD[name], **rule)
    assert results and all(r.status in {"pass", "fail"} for r in results)
    assert not any("could not be evaluated" in r.message for r in results), results


def test_unexpected_error_in_a_rule_becomes_a_failed_result(monkeypatch, flights):
    from core.data import rules

    def boom(ctx, rule):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(rules.CHECKS, "range", boom)
    result = one(flights, rule="range", column="seats", min=0, severity="warn")
    assert result.status == "warn" and "kaboom" in result.message and result.column == "seats"


def test_validate_frame_accepts_rule_mappings(flights):
    report = validate_frame(flights, [{"rule": "row_count", "min": 1}], stage="raw", source="s")
    assert report.status == "pass" and report.n_rows == 6 and report.n_columns == 4


def test_benchmark_finds_the_same_problems_as_pandera_on_a_small_frame(capsys):
    pytest.importorskip("pandera", reason="pandera is the benchmark peer (dev extra)")
    path = Path(__file__).parents[2] / "benchmarks" / "bench_validation.py"
    spec = importlib.util.spec_from_file_location("bench_validation", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--rows", "20000", "--repeat", "1"]) == 0
    assert "findings identical: yes" in capsys.readouterr().out
