"""Validation reports: status aggregation, summary line, JSON round trip, HTML and files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.data.validation import (
    RuleResult,
    ValidationReport,
    load_report,
    render_html,
    validate_frame,
    write_report,
)


def result(status: str, rule: str = "range", column: str | None = "x", **kw) -> RuleResult:
    return RuleResult(
        rule=rule,
        column=column,
        severity="fail" if status == "pass" else status,
        passed=status == "pass",
        observed=kw.pop("observed", 0.5),
        threshold=kw.pop("threshold", "<= 0.1"),
        message=f"{rule} message",
        **kw,
    )


def report(*results: RuleResult) -> ValidationReport:
    return ValidationReport(
        stage="raw",
        source="day_2013-01-05.csv",
        n_rows=10,
        n_columns=3,
        results=list(results),
        created_at="2024-01-01T00:00:00+00:00",
        duration_s=0.01,
    )


def test_result_status_is_pass_or_its_severity():
    assert result("pass").status == "pass"
    assert result("warn").status == "warn"
    assert result("fail").status == "fail"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "pass"),
        (["pass"], "pass"),
        (["pass", "warn"], "warn"),
        (["warn", "fail", "pass"], "fail"),
    ],
)
def test_report_status_is_the_worst_result(statuses, expected):
    assert report(*[result(s) for s in statuses]).status == expected


def test_failures_lists_only_failed_results():
    rep = report(result("pass"), result("warn"), result("fail", rule="dtype"))
    assert [r.rule for r in rep.failures] == ["dtype"]


def test_summary_line_names_first_failure_and_counts_the_rest():
    rep = report(
        result("warn"),
        result("fail", rule="missing_rate", column="temp", observed=0.42),
        result("fail", rule="range"),
        result("fail", rule="row_count", column=None),
    )
    assert rep.summary_line() == (
        "day_2013-01-05.csv: raw validation failed: missing_rate on 'temp' "
        "(observed 0.42, threshold <= 0.1) (+2 more)"
    )


def test_summary_line_for_table_level_failure_has_no_column():
    rep = report(result("fail", rule="row_count", column=None, observed=3, threshold=">= 10"))
    assert rep.summary_line() == (
        "day_2013-01-05.csv: raw validation failed: row_count (observed 3, threshold >= 10)"
    )


def test_summary_line_for_pass_counts_warnings():
    assert report(result("pass")).summary_line() == "day_2013-01-05.csv: raw validation passed"
    two = report(result("warn"), result("warn"), result("pass"))
    assert two.summary_line() == "day_2013-01-05.csv: raw validation passed (2 warnings)"
    assert report(result("warn")).summary_line().endswith("(1 warning)")


def test_to_dict_is_json_safe_and_round_trips():
    rows = [
        {
            "_row": np.int64(3),
            "x": np.float64("nan"),
            "t": pd.Timestamp("2024-01-02", tz="UTC"),
            "n": np.int32(7),
            "d": pd.NaT,
            "b": np.bool_(True),
        }
    ]
    rep = report(result("fail", observed=np.float64("nan"), failing_count=1, failing_rows=rows))
    data = rep.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert data["status"] == "fail" and data["results"][0]["status"] == "fail"
    assert data["results"][0]["failing_rows"][0] == {
        "_row": 3,
        "x": None,
        "t": "2024-01-02T00:00:00+00:00",
        "n": 7,
        "d": None,
        "b": True,
    }
    again = ValidationReport.from_dict(json.loads(text))
    assert again.to_dict() == data
    assert again.results[0].observed is None and again.status == "fail"


def test_real_report_serialises_timestamps_and_numpy_values():
    df = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None]), "x": [1, 99]})
    rules = [
        {"rule": "freshness", "column": "t", "max_age_days": 1},
        {"rule": "range", "column": "x", "max": 10},
        {"rule": "missing_rate", "columns": ["*"]},
    ]
    rep = validate_frame(df, rules, stage="processed", source="b1", now=pd.Timestamp("2024-01-01"))
    data = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert data["results"][0]["observed"] == "2024-01-01T00:00:00+00:00"
    assert data["results"][1]["failing_rows"] == [{"_row": 1, "t": None, "x": 99}]
    assert ValidationReport.from_dict(data).summary_line() == rep.summary_line()
    assert pd.Timestamp(rep.created_at).tzinfo is not None and rep.duration_s >= 0


def test_render_html_is_self_contained_and_shows_rules_and_failing_values():
    rows = [{"_row": 4, "origin": "<XXX>", "dep_delay": None}]
    rep = report(
        result("pass", rule="row_count", column=None),
        result("fail", rule="allowed_values", column="origin", failing_count=1, failing_rows=rows),
    )
    html = render_html(rep)
    assert html.startswith("<!doctype html>")
    assert "<script" not in html and "http" not in html
    assert "allowed_values" in html and "row_count" in html
    assert "&lt;XXX&gt;" in html  # values are escaped
    assert 'class="badge fail"' in html


def test_write_report_writes_json_and_html_and_loads_back(tmp_path):
    df = pd.DataFrame({"origin": ["EWR", "ZZZ"], "x": [1.0, np.nan]})
    rules = [{"rule": "allowed_values", "column": "origin", "values": ["EWR"]}]
    rep = validate_frame(df, rules, stage="raw", source="day.csv")
    json_path, html_path = write_report(rep, tmp_path / "reports" / "b1", "raw")
    assert json_path == tmp_path / "reports" / "b1" / "raw.json" and json_path.is_file()
    assert html_path.suffix == ".html" and html_path.is_file()
    html = html_path.read_text(encoding="utf-8")
    assert "allowed_values" in html and "ZZZ" in html
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["raw.html", "raw.json"]
    loaded = load_report(json_path)
    assert loaded.to_dict() == rep.to_dict()
    assert load_report(html_path).status == "fail"


def test_write_report_replaces_an_existing_report(tmp_path):
    first = report(result("fail"))
    write_report(first, tmp_path, "raw")
    write_report(report(result("pass")), tmp_path, "raw")
    assert load_report(tmp_path / "raw.json").status == "pass"
