"""Per-rule checks, vectorised over numpy views of the columns shared within one call.

`FrameView` computes each column's null mask, factorisation, numeric and timestamp views once
and caches them, so forty rules over twenty columns touch each column's data a few times only.
Every check returns a list of `RuleResult`s; `run_rule` turns an unexpected error into a failed
result so a rule never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.config import (
    AllowedValuesRule,
    ClassBalanceRule,
    DTypeRule,
    DuplicatesRule,
    FreshnessRule,
    MissingRateRule,
    OutliersRule,
    RangeRule,
    RequiredColumnsRule,
    RowCountRule,
)
from core.data.report import RuleResult, json_safe
from core.errors import one_line

if TYPE_CHECKING:  # the view lives with `validate_frame`, which imports this module
    from core.data.validation import FrameView

_DAY = pd.Timedelta(days=1)


def to_utc(value: object) -> pd.Timestamp:
    """Convert to a UTC timestamp; a tz-naive value is taken to be UTC already."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass
class CheckContext:
    """What every check needs besides its rule: the frame view and the call's options."""

    view: FrameView
    failing_rows: int = 5
    previous_max: dict[str, pd.Timestamp] = field(default_factory=dict)
    now: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))

    def rows(self, mask: np.ndarray) -> list[dict]:
        """Return the first `failing_rows` rows where `mask` holds, as JSON-safe dicts."""
        idx = np.flatnonzero(mask)[: self.failing_rows]
        if idx.size == 0:
            return []
        records = self.view.df.iloc[idx].to_dict("records")
        return [{"_row": int(i), **json_safe(rec)} for i, rec in zip(idx, records, strict=True)]


def _result(rule, column, passed, observed, threshold, message, **kw) -> RuleResult:
    return RuleResult(
        rule.rule, column, rule.severity, bool(passed), observed, threshold, message, **kw
    )


def _absent(rule, column: str, threshold: str) -> RuleResult:
    return _result(rule, column, False, None, threshold, f"column '{column}' is missing")


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _tolerated(limit: float) -> str:
    return f" (tolerated share {limit})" if limit else ""


def _rowwise(ctx, rule, column, mask, total, limit, threshold, what) -> RuleResult:
    """Build the result of a rule flagging rows in `mask` that tolerates a share `limit`."""
    count = int(mask.sum())
    share = _share(count, total)
    passed = share <= limit
    message = f"column '{column}': {count} of {total} values ({share:.2%}) {what}"
    rows = [] if passed else ctx.rows(mask)
    return _result(
        rule,
        column,
        passed,
        round(share, 4),
        threshold,
        message,
        failing_count=count,
        failing_rows=rows,
    )


# --------------------------------------------------------------------------- table-level rules
def check_required_columns(ctx: CheckContext, rule: RequiredColumnsRule) -> list[RuleResult]:
    """Every listed column must be present; observed lists the missing ones."""
    missing = [c for c in rule.columns if not ctx.view.has(c)]
    threshold = f"all of {rule.columns}"
    if missing:
        message = f"required column(s) missing: {', '.join(missing)}"
    else:
        message = f"all {len(rule.columns)} required columns are present"
    return [_result(rule, None, not missing, ", ".join(missing), threshold, message)]


def _bounds(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"in [{lo}, {hi}]"
    if lo is not None:
        return f">= {lo}"
    return f"<= {hi}" if hi is not None else "any"


def check_row_count(ctx: CheckContext, rule: RowCountRule) -> list[RuleResult]:
    """Check that the number of rows lies in [min, max] (inclusive)."""
    n = ctx.view.n
    passed = (rule.min is None or n >= rule.min) and (rule.max is None or n <= rule.max)
    threshold = _bounds(rule.min, rule.max)
    message = f"table has {n} rows, threshold {threshold}"
    return [_result(rule, None, passed, n, threshold, message)]


def check_duplicates(ctx: CheckContext, rule: DuplicatesRule) -> list[RuleResult]:
    """Share of rows duplicating an earlier row (on all columns or `columns`) at most `max`."""
    threshold = f"<= {rule.max}"
    absent = [c for c in rule.columns or [] if not ctx.view.has(c)]
    if absent:
        return [_result(rule, None, False, None, threshold, f"column '{absent[0]}' is missing")]
    mask = ctx.view.duplicated(rule.columns)
    count, n = int(mask.sum()), ctx.view.n
    share = _share(count, n)
    passed = share <= rule.max
    on = f" on {rule.columns}" if rule.columns else ""
    message = (
        f"{count} of {n} rows ({share:.2%}) duplicate an earlier row{on}, threshold {threshold}"
    )
    return [
        _result(
            rule,
            None,
            passed,
            round(share, 4),
            threshold,
            message,
            failing_count=count,
            failing_rows=[] if passed else ctx.rows(mask),
        )
    ]


# --------------------------------------------------------------------------- column rules
def check_missing_rate(ctx: CheckContext, rule: MissingRateRule) -> list[RuleResult]:
    """One result per column: the share of nulls at most `max` (`["*"]` = every column)."""
    view, threshold = ctx.view, f"<= {rule.max}"
    names = list(view.columns) if "*" in rule.columns else []
    names += [c for c in rule.columns if c != "*" and c not in names]
    results = []
    for column in names:
        if not view.has(column):
            results.append(_absent(rule, column, threshold))
            continue
        mask = view.null_mask(column)
        what = f"are null, threshold {threshold}"
        results.append(_rowwise(ctx, rule, column, mask, view.n, rule.max, threshold, what))
    return results


def check_dtype(ctx: CheckContext, rule: DTypeRule) -> list[RuleResult]:
    """Values must be of the kind `dtype`; strings that parse count for numerics and dates."""
    view, column, kind = ctx.view, rule.column, rule.dtype
    if not view.has(column):
        return [_absent(rule, column, kind)]
    found = str(view.series(column).dtype)
    bad = view.kind_violations(column, kind)
    if bad is None or not bad.any():
        how = "matches" if bad is None else "values all parse as"
        message = f"column '{column}' has dtype {found}; {how} {kind}"
        return [_result(rule, column, True, found, kind, message)]
    count, total = int(bad.sum()), int((~view.null_mask(column)).sum())
    message = (
        f"column '{column}' has dtype {found}: {count} of {total} non-null values are not {kind}"
    )
    return [
        _result(
            rule,
            column,
            False,
            found,
            kind,
            message,
            failing_count=count,
            failing_rows=ctx.rows(bad),
        )
    ]


def check_range(ctx: CheckContext, rule: RangeRule) -> list[RuleResult]:
    """Share of non-null (numeric after coercion) values outside [min, max] at most `max_rate`."""
    threshold = f"share not {_bounds(rule.min, rule.max)} <= {rule.max_rate}"
    if not ctx.view.has(rule.column):
        return [_absent(rule, rule.column, threshold)]
    values = ctx.view.numeric(rule.column)
    out = np.zeros(values.shape, dtype=bool)
    if rule.min is not None:
        out |= values < rule.min
    if rule.max is not None:
        out |= values > rule.max
    total = int(ctx.view.numeric_count(rule.column))
    what = f"are not {_bounds(rule.min, rule.max)}{_tolerated(rule.max_rate)}"
    return [_rowwise(ctx, rule, rule.column, out, total, rule.max_rate, threshold, what)]


def check_allowed_values(ctx: CheckContext, rule: AllowedValuesRule) -> list[RuleResult]:
    """Share of non-null values not in `values` at most `max_rate`."""
    threshold = f"share not one of {rule.values} <= {rule.max_rate}"
    if not ctx.view.has(rule.column):
        return [_absent(rule, rule.column, threshold)]
    bad = ctx.view.not_in(rule.column, rule.values)
    total = int((~ctx.view.null_mask(rule.column)).sum())
    what = f"are not one of {rule.values}{_tolerated(rule.max_rate)}"
    return [_rowwise(ctx, rule, rule.column, bad, total, rule.max_rate, threshold, what)]


def check_outliers(ctx: CheckContext, rule: OutliersRule) -> list[RuleResult]:
    """Share of outliers (z-score or IQR fences) among non-null values at most `max_rate`."""
    threshold = f"<= {rule.max_rate}"
    if not ctx.view.has(rule.column):
        return [_absent(rule, rule.column, threshold)]
    values = ctx.view.numeric(rule.column)
    finite = values[np.isfinite(values)]
    out = np.zeros(values.shape, dtype=bool)
    if rule.method == "zscore" and finite.size > 1:
        mean, std = finite.mean(), finite.std(ddof=1)
        if std > 0:
            out = np.abs(values - mean) > rule.threshold * std
        fence = f"|z| > {rule.threshold}"
    else:
        if finite.size:
            q1, q3 = np.percentile(finite, [25, 75])
            lo, hi = q1 - rule.threshold * (q3 - q1), q3 + rule.threshold * (q3 - q1)
            out = (values < lo) | (values > hi)
        fence = f"beyond {rule.threshold} IQR"
    total = int(ctx.view.numeric_count(rule.column))
    what = f"are outliers ({fence}), threshold {threshold}"
    return [_rowwise(ctx, rule, rule.column, out, total, rule.max_rate, threshold, what)]


def check_class_balance(ctx: CheckContext, rule: ClassBalanceRule) -> list[RuleResult]:
    """Every observed class holds at least `min_share` of the non-null values."""
    column, threshold = rule.column, f">= {rule.min_share}"
    if not ctx.view.has(column):
        return [_absent(rule, column, threshold)]
    counts, labels = ctx.view.class_counts(column)
    if counts.size < 2:
        what = (
            "has no non-null values" if counts.size == 0 else f"has only one class ({labels[0]!r})"
        )
        return [
            _result(
                rule,
                column,
                False,
                1.0 if counts.size else None,
                threshold,
                f"column '{column}' {what}",
            )
        ]
    i = int(np.argmin(counts))
    share = counts[i] / counts.sum()
    passed = share >= rule.min_share
    message = (
        f"column '{column}': smallest class {labels[i]!r} holds {share:.2%}, threshold {threshold}"
    )
    return [_result(rule, column, passed, round(float(share), 4), threshold, message)]


def _freshness_against(ctx, rule, newest: pd.Timestamp, threshold: str) -> RuleResult:
    """Compare the newest timestamp with now or with the previous version's newest."""
    column, max_age, observed = rule.column, rule.max_age_days * _DAY, newest.isoformat()
    if rule.reference == "now":
        age = ctx.now - newest
        days = f"{age / _DAY:.2f}"
        message = f"column '{column}': newest {observed} is {days} days old, threshold {threshold}"
        return _result(rule, column, age <= max_age, observed, threshold, message)
    previous = ctx.previous_max.get(column)
    if previous is None or pd.isna(previous):
        message = f"column '{column}': no previous version to compare with"
        return _result(rule, column, True, observed, threshold, message)
    floor = to_utc(previous) - max_age
    threshold = f">= {floor.isoformat()}"
    message = (
        f"column '{column}': newest {observed}, previous version's newest "
        f"{to_utc(previous).isoformat()}, threshold {threshold}"
    )
    return _result(rule, column, newest >= floor, observed, threshold, message)


def check_freshness(ctx: CheckContext, rule: FreshnessRule) -> list[RuleResult]:
    """Check the newest timestamp is at most `max_age_days` behind now (or the last version)."""
    if rule.reference == "now":
        threshold = f"age <= {rule.max_age_days} days"
    else:
        threshold = f">= previous max - {rule.max_age_days} days"
    if not ctx.view.has(rule.column):
        return [_absent(rule, rule.column, threshold)]
    newest = ctx.view.newest(rule.column)
    if newest is None:
        message = f"column '{rule.column}' has no parseable timestamps"
        return [_result(rule, rule.column, False, None, threshold, message)]
    return [_freshness_against(ctx, rule, newest, threshold)]


CHECKS: dict[str, Callable[[CheckContext, object], list[RuleResult]]] = {
    "required_columns": check_required_columns,
    "dtype": check_dtype,
    "missing_rate": check_missing_rate,
    "range": check_range,
    "allowed_values": check_allowed_values,
    "duplicates": check_duplicates,
    "row_count": check_row_count,
    "outliers": check_outliers,
    "class_balance": check_class_balance,
    "freshness": check_freshness,
}


def run_rule(ctx: CheckContext, rule) -> list[RuleResult]:
    """Run one rule; an unexpected error becomes a failed result carrying the error text."""
    try:
        return CHECKS[rule.rule](ctx, rule)
    except Exception as exc:  # noqa: BLE001 - a broken rule must be reported, never raised
        column = getattr(rule, "column", None)
        message = f"rule {rule.rule} could not be evaluated: {one_line(exc)}"
        return [RuleResult(rule.rule, column, rule.severity, False, None, "", message)]
