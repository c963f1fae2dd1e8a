"""Validation speed: the workbench's vectorised rules vs pandera, same frame, same rules.

Run it from the repository root:

    .venv/bin/python benchmarks/bench_validation.py            # 1,000,000 rows x 20 columns
    .venv/bin/python benchmarks/bench_validation.py --rows 20000

A seeded synthetic frame (12 float, 4 int, 3 categorical string and 1 datetime column) gets
injected problems: too many nulls in one column, out-of-range values, an unexpected category,
outliers, a rare class and duplicate rows. About forty rules run through `validate_frame`; the
equivalent pandera schema uses built-in checks where the semantics match (`in_range`, `isin`,
dtypes, required columns) and series/frame-level custom checks for the rate-based rules, with
`lazy=True` so every failure is collected. Each engine is timed best-of-N in this process; the
script prints both times, the ratio and the failing (rule, column) pairs of each, and exits 1
if the findings differ.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

try:
    import pandera.pandas as pa
except ImportError:  # pandera < 0.24 has no pandas sub-package
    import pandera as pa

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
from core.data.validation import validate_frame

NOW = pd.Timestamp("2024-06-01T00:00:00", tz="UTC")
FLOATS = [f"f{i}" for i in range(12)]
INTS = [f"i{i}" for i in range(4)]
CATS = ["airport", "carrier", "segment"]
AIRPORTS = ["EWR", "JFK", "LGA"]
CARRIERS = ["AA", "B6", "DL", "UA", "WN"]


def make_frame(n: int, seed: int = 7) -> pd.DataFrame:
    """Build the synthetic batch with its injected problems."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {c: rng.normal(0, 1, n) for c in FLOATS}
    data["f0"][rng.random(n) < 0.15] = np.nan  # missing above the 10% threshold
    for c in FLOATS[1:6]:
        data[c][rng.random(n) < 0.02] = np.nan  # missing below the threshold
    data["f1"][rng.random(n) < 0.003] = 50.0  # out of range
    data["f2"][rng.random(n) < 0.01] *= 40  # outliers
    data.update({c: rng.integers(0, 100, n) for c in INTS})
    data["i1"] = rng.integers(0, 5, n)
    data["airport"] = rng.choice(
        np.array(AIRPORTS + ["XXX"], dtype=object), n, p=[0.33] * 3 + [0.01]
    )
    data["carrier"] = rng.choice(np.array(CARRIERS, dtype=object), n, p=[0.3, 0.3, 0.2, 0.19, 0.01])
    data["segment"] = rng.choice(
        np.array(["a", "b", "c", None], dtype=object), n, p=[0.32] * 3 + [0.04]
    )
    seconds = rng.integers(0, 2 * 86400, n)
    data["ts"] = (NOW.tz_localize(None) - pd.to_timedelta(seconds, unit="s")).to_numpy()
    rows = np.arange(n)  # the last 2% of rows copy random rows of the first half
    rows[n - n // 50 :] = np.sort(rng.choice(n // 2, size=n // 50, replace=False))
    return pd.DataFrame({c: v[rows] for c, v in data.items()})


def build_rules(columns: list[str]) -> list:
    """About forty workbench rules over the synthetic frame."""
    rules: list = [
        RequiredColumnsRule(rule="required_columns", columns=columns),
        RowCountRule(rule="row_count", min=1000),
        DuplicatesRule(rule="duplicates", max=0.01),
    ]
    rules += [MissingRateRule(rule="missing_rate", columns=[c], max=0.1) for c in columns]
    rules += [
        DTypeRule(rule="dtype", column=c, dtype=k)
        for c, k in [
            ("f3", "float"),
            ("i0", "integer"),
            ("i1", "numeric"),
            ("carrier", "string"),
            ("ts", "datetime"),
        ]
    ]
    rules += [
        RangeRule(rule="range", column=c, min=lo, max=hi)
        for c, lo, hi in [("f1", -10, 10), ("f4", -10, 10), ("i0", 0, 99), ("i2", 0, 1000)]
    ]
    rules += [
        AllowedValuesRule(rule="allowed_values", column="airport", values=AIRPORTS),
        AllowedValuesRule(rule="allowed_values", column="carrier", values=CARRIERS),
        AllowedValuesRule(rule="allowed_values", column="i1", values=[0, 1, 2, 3, 4]),
        OutliersRule(rule="outliers", column="f2", method="zscore", threshold=4, max_rate=0.001),
        OutliersRule(rule="outliers", column="f5", method="iqr", threshold=3, max_rate=0.001),
        OutliersRule(rule="outliers", column="f6", method="zscore", threshold=5, max_rate=0.001),
        ClassBalanceRule(rule="class_balance", column="carrier", min_share=0.05),
        ClassBalanceRule(rule="class_balance", column="airport", min_share=0.005),
        FreshnessRule(rule="freshness", column="ts", max_age_days=2),
    ]
    return rules


def _outlier_check(rule: OutliersRule) -> pa.Check:
    def fn(s: pd.Series) -> bool:
        v = s.dropna()
        if rule.method == "zscore":
            std = v.std()
            out = (v - v.mean()).abs() > rule.threshold * std if std > 0 else v != v
        else:
            q1, q3 = v.quantile([0.25, 0.75])
            lo, hi = q1 - rule.threshold * (q3 - q1), q3 + rule.threshold * (q3 - q1)
            out = (v < lo) | (v > hi)
        return out.mean() <= rule.max_rate if len(v) else True

    return pa.Check(fn, name="outliers")


def _column_check(rule) -> pa.Check:
    """The pandera check equivalent to one column rule."""
    if rule.rule == "missing_rate":
        return pa.Check(lambda s: s.isna().mean() <= rule.max, name="missing_rate", ignore_na=False)
    if rule.rule == "range":
        return pa.Check.in_range(rule.min, rule.max)
    if rule.rule == "allowed_values":
        return pa.Check.isin(rule.values)
    if rule.rule == "outliers":
        return _outlier_check(rule)
    if rule.rule == "class_balance":
        shares = lambda s: s.value_counts(normalize=True)  # noqa: E731 - tiny local helper
        fn = lambda s: len(shares(s)) >= 2 and shares(s).min() >= rule.min_share  # noqa: E731 - pandera takes a callable; a lambda keeps the schema readable
        return pa.Check(fn, name="class_balance")
    if rule.rule == "freshness":
        limit = pd.Timedelta(days=rule.max_age_days)
        return pa.Check(lambda s: NOW - s.max().tz_localize("UTC") <= limit, name="freshness")
    raise ValueError(rule.rule)


PANDERA_DTYPES = {
    "float": "float64",
    "integer": "int64",
    "numeric": "int64",
    "string": object,
    "datetime": "datetime64[ns]",
}


def build_schema(rules: list) -> pa.DataFrameSchema:
    """The pandera schema equivalent to `rules` (the benchmark frame's dtypes are known)."""
    checks: dict[str, list] = {}
    dtypes: dict[str, object] = {}
    frame_checks = []
    for rule in rules:
        if rule.rule == "required_columns":
            checks.update({c: checks.get(c, []) for c in rule.columns})
        elif rule.rule == "row_count":
            frame_checks.append(pa.Check(lambda df, r=rule: len(df) >= r.min, name="row_count"))
        elif rule.rule == "duplicates":
            fn = lambda df, r=rule: df.duplicated().mean() <= r.max  # noqa: E731 - pandera takes a callable; a lambda keeps the schema readable
            frame_checks.append(pa.Check(fn, name="duplicates"))
        elif rule.rule == "dtype":
            dtypes[rule.column] = PANDERA_DTYPES[rule.dtype]
        else:
            column = rule.columns[0] if rule.rule == "missing_rate" else rule.column
            checks.setdefault(column, []).append(_column_check(rule))
    columns = {
        c: pa.Column(dtypes.get(c), checks=cs, nullable=True, required=True)
        for c, cs in checks.items()
    }
    return pa.DataFrameSchema(columns, checks=frame_checks)


_PANDERA_NAMES = {
    "in_range": "range",
    "isin": "allowed_values",
    "dtype": "dtype",
    "column_in_dataframe": "required_columns",
}


def run_pandera(schema: pa.DataFrameSchema, df: pd.DataFrame) -> set[tuple[str, str | None]]:
    """Validate with pandera and return the failing (rule, column) pairs."""
    try:
        schema.validate(df, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        found = set()
        for check, column in exc.failure_cases[["check", "column"]].itertuples(index=False):
            rule = _PANDERA_NAMES.get(str(check).split("(")[0], str(check))
            table_level = rule in {"required_columns", "duplicates", "row_count"}
            found.add((rule, None if table_level or pd.isna(column) else column))
        return found
    return set()


def run_ours(rules: list, df: pd.DataFrame) -> set[tuple[str, str | None]]:
    """Validate with the workbench and return the failing (rule, column) pairs."""
    report = validate_frame(df, rules, stage="raw", source="bench", now=NOW)
    return {(r.rule, r.column) for r in report.results if not r.passed}


def best_of(repeat: int, fn, *args) -> tuple[float, object]:
    """Best wall time of `repeat` calls and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a compact table; exit 1 if the findings differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    df = make_frame(args.rows)
    rules = build_rules(list(df.columns))
    schema = build_schema(rules)
    t_ours, ours = best_of(args.repeat, run_ours, rules, df)
    t_pandera, theirs = best_of(args.repeat, run_pandera, schema, df)
    print(f"{len(df):,} rows x {df.shape[1]} columns, {len(rules)} rules, best of {args.repeat}")
    print(f"{'engine':<10} {'seconds':>9} {'findings':>9}")
    print(f"{'workbench':<10} {t_ours:>9.3f} {len(ours):>9}")
    print(f"{'pandera':<10} {t_pandera:>9.3f} {len(theirs):>9}")
    print(f"speed-up: {t_pandera / t_ours:.1f}x")
    print(f"{'rule':<16} {'column':<10} found by")
    for rule, column in sorted(ours | theirs, key=lambda p: (p[0], str(p[1]))):
        pair = (rule, column)
        who = (
            "both"
            if pair in ours and pair in theirs
            else "workbench"
            if pair in ours
            else "pandera"
        )
        print(f"{rule:<16} {column or '-':<10} {who}")
    same = ours == theirs
    print(f"findings identical: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
