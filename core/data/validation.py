"""Validate a batch against the configured rules of one pipeline stage.

`validate_frame` runs every rule over a `FrameView`, which computes each column's numpy views
(null mask, factorisation, numeric and timestamp parses, row hashes) once per call and shares
them across rules. Results and reports live in `core.data.report`; the checks in
`core.data.rules`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from pandas.api import types as pdt
from pydantic import TypeAdapter

from core.config import Rule
from core.data.report import (
    RuleResult,
    ValidationReport,
    json_safe,
    load_report,
    render_html,
    write_report,
)
from core.data.rules import CheckContext, run_rule, to_utc

__all__ = [
    "FrameView",
    "RuleResult",
    "ValidationReport",
    "json_safe",
    "load_report",
    "render_html",
    "validate_frame",
    "write_report",
]

_PRIME = np.uint64(1099511628211)  # FNV prime: mixes per-column keys into a row key
_BOOLISH = {"true", "false", "0", "1"}


def _textual(dtype) -> bool:
    return (
        pdt.is_object_dtype(dtype)
        or pdt.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def _numeric(dtype) -> bool:
    return pdt.is_numeric_dtype(dtype) and not pdt.is_bool_dtype(dtype) and not _textual(dtype)


def _integral(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values == np.floor(values))


def _is_boolish(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return True
    if isinstance(value, int | float | np.number):
        return value in (0, 1)
    return isinstance(value, str) and value.strip().lower() in _BOOLISH


def _parse_timestamps(uniques: pd.Index) -> np.ndarray:
    """Parse distinct values as timestamps (ISO first, then mixed formats) to naive-UTC ns."""
    objs = pd.Series(uniques, dtype=object)
    ok = objs.map(lambda u: isinstance(u, str | dt.date | np.datetime64)).to_numpy(dtype=bool)
    parsed = pd.to_datetime(objs[ok], errors="coerce", utc=True, format="ISO8601")
    retry = parsed.isna().to_numpy()
    if retry.any():
        parsed[retry] = pd.to_datetime(objs[ok][retry], errors="coerce", utc=True, format="mixed")
    out = np.full(len(objs), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[ok] = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return out


def _factorize(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes per row (-1 for null) and distinct values, like `DataFrame.duplicated` sees them."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy(), s.cat.categories
    try:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): factorise their text
        codes, uniques = pd.factorize(s.astype(str).where(s.notna()))
    return codes, pd.Index(uniques)


def _repeated(keys: np.ndarray) -> np.ndarray:
    """Mask of positions whose key occurs more than once.

    On large inputs a value sort finds the repeated keys and a bitmap over their top bits
    screens out most positions first; the survivors (which include every occurrence of a
    repeated key) are then checked exactly by sorting their positions.
    """
    out = np.zeros(keys.size, dtype=bool)
    positions = np.arange(keys.size)
    if keys.size > 1 << 16:
        ordered = np.sort(keys)
        repeats = ordered[1:][ordered[1:] == ordered[:-1]]
        shift = np.uint64(64 - min(24, keys.size.bit_length() + 2))  # a few slots per key
        bitmap = np.zeros(1 << (64 - int(shift)), dtype=bool)
        bitmap[(repeats >> shift).astype(np.intp)] = True
        positions = np.flatnonzero(bitmap[(keys >> shift).astype(np.intp)])
    order = positions[np.argsort(keys[positions])]
    same = keys[order[1:]] == keys[order[:-1]]
    out[order[1:][same]] = True
    out[order[:-1][same]] = True
    return out


class FrameView:
    """Lazily computed numpy views of one frame's columns, cached for one validation call."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.n = len(df)
        self.columns = list(df.columns)
        self._cache: dict[tuple[str, object], object] = {}

    def _memo(self, kind: str, column: object, compute: Callable[[object], object]):
        key = (kind, column)
        if key not in self._cache:
            self._cache[key] = compute(column)
        return self._cache[key]

    def has(self, column: object) -> bool:
        """Whether the frame has this column."""
        return column in self.df.columns

    def series(self, column: object) -> pd.Series:
        """Return the column as a Series."""
        return self.df[column]

    def null_mask(self, column: object) -> np.ndarray:
        """Return a mask, true where the value is null (None, NaN, NaT, pd.NA)."""

        def compute(c):
            if _textual(self.df[c].dtype):  # the factorisation is shared with other rules
                return self.factorized(c)[0] < 0
            return self.df[c].isna().to_numpy()

        return self._memo("null", column, compute)

    def factorized(self, column: object) -> tuple[np.ndarray, pd.Index]:
        """Codes per row (-1 for null) and the distinct values, in order of appearance."""
        return self._memo("codes", column, lambda c: _factorize(self.df[c]))

    def numeric(self, column: object) -> np.ndarray:
        """Float values; NaN where null or where a text value does not parse as a number."""

        def compute(c):
            s = self.df[c]
            if s.dtype == np.float64:
                return s.to_numpy()
            if _numeric(s.dtype) or pdt.is_bool_dtype(s.dtype):
                return s.to_numpy(dtype=np.float64, na_value=np.nan)
            if not _textual(s.dtype):
                return np.full(self.n, np.nan)
            codes, uniques = self.factorized(c)
            parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
            return np.append(parsed.to_numpy(dtype=np.float64, na_value=np.nan), np.nan)[codes]

        return self._memo("numeric", column, compute)

    def numeric_count(self, column: object) -> int:
        """How many values are numbers (non-null and parseable)."""
        return self._memo("n_numeric", column, lambda c: int((~np.isnan(self.numeric(c))).sum()))

    def timestamps(self, column: object) -> tuple[np.ndarray, np.ndarray]:
        """Naive-UTC nanoseconds (int64) per row and a mask of rows holding a valid timestamp."""

        def compute(c):
            s = self.df[c]
            if pdt.is_datetime64_any_dtype(s.dtype):
                if getattr(s.dtype, "tz", None) is not None:
                    s = s.dt.tz_convert("UTC").dt.tz_localize(None)
                values = s.to_numpy(dtype="datetime64[ns]")
            elif _textual(s.dtype):
                codes, uniques = self.factorized(c)
                values = np.append(_parse_timestamps(uniques), np.datetime64("NaT"))[codes]
            else:
                values = np.full(self.n, np.datetime64("NaT"), dtype="datetime64[ns]")
            return values.view("i8"), ~np.isnat(values)

        return self._memo("timestamps", column, compute)

    def newest(self, column: object) -> pd.Timestamp | None:
        """Return the latest valid timestamp of the column in UTC, or None if there is none."""
        values, valid = self.timestamps(column)
        return pd.Timestamp(int(values[valid].max()), tz="UTC") if valid.any() else None

    def kind_violations(self, column: object, kind: str) -> np.ndarray | None:
        """None if the dtype itself is of `kind`, else a mask of non-null values that are not."""
        dtype, nonnull = self.df[column].dtype, ~self.null_mask(column)
        if kind in ("string", "category"):
            return None if _textual(dtype) else nonnull
        if kind == "bool":
            return None if pdt.is_bool_dtype(dtype) else nonnull & ~self._boolish(column)
        if kind == "datetime":
            if pdt.is_datetime64_any_dtype(dtype):
                return None
            return nonnull & ~self.timestamps(column)[1] if _textual(dtype) else nonnull
        if _numeric(dtype):
            if kind == "integer" and pdt.is_float_dtype(dtype):
                return nonnull & ~_integral(self.numeric(column))
            return None
        if not _textual(dtype):
            return nonnull
        values = self.numeric(column)
        fits = _integral(values) if kind == "integer" else ~np.isnan(values)
        return nonnull & ~fits

    def _boolish(self, column: object) -> np.ndarray:
        if _numeric(self.df[column].dtype):
            return np.isin(self.numeric(column), [0.0, 1.0])
        codes, uniques = self.factorized(column)
        ok = np.fromiter((_is_boolish(u) for u in uniques), dtype=bool, count=len(uniques))
        return np.append(ok, False)[codes]

    def not_in(self, column: object, allowed: list) -> np.ndarray:
        """Mask of non-null values not in `allowed` (text columns also compare as strings)."""
        if _numeric(self.df[column].dtype):
            numbers = pd.to_numeric(pd.Series(allowed, dtype=object), errors="coerce").dropna()
            values = self.numeric(column)
            return ~np.isnan(values) & ~np.isin(values, numbers.to_numpy(dtype=np.float64))
        codes, uniques = self.factorized(column)
        idx = pd.Index(uniques, dtype=object)
        ok = idx.isin(list(allowed)) | idx.astype(str).isin([str(v) for v in allowed])
        return np.append(~ok, False)[codes]

    def class_counts(self, column: object) -> tuple[np.ndarray, pd.Index]:
        """Row counts of the classes present (nulls excluded) and their labels."""
        codes, uniques = self.factorized(column)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        present = counts > 0
        return counts[present], uniques[present]

    def _row_key(self, column: object, rows: np.ndarray | None) -> np.ndarray:
        """Return uint64 per row (of `rows`, or all), equal where `duplicated` sees equality."""
        s = self.df[column] if rows is None else self.df[column].iloc[rows]
        if _textual(s.dtype):
            if rows is None or ("codes", column) in self._cache:
                codes = self.factorized(column)[0]
                codes = codes if rows is None else codes[rows]
            else:  # codes of the subset alone are consistent within the subset
                codes = _factorize(s)[0]
            return codes.astype(np.int64, copy=False).view(np.uint64)
        if not isinstance(s.dtype, np.dtype):  # extension dtypes (tz-aware, nullable, ...)
            return pd.util.hash_pandas_object(s, index=False).to_numpy()
        if s.dtype.kind == "f":  # -0.0 -> 0.0 and one bit pattern for every NaN
            values = s.to_numpy(dtype=np.float64) + 0.0
            values[np.isnan(values)] = np.nan
            return values.view(np.uint64)
        if s.dtype.kind in "iubmM":
            return s.to_numpy().astype(np.int64, copy=False).view(np.uint64)
        return pd.util.hash_pandas_object(s, index=False).to_numpy()

    def duplicated(self, columns: list | None) -> np.ndarray:
        """Rows equal to an earlier row on `columns` (all if None), like `DataFrame.duplicated`.

        Per-column bit patterns are mixed into a row key, numeric columns first. Every few
        columns only rows whose partial key repeats are kept (a row with an exact twin always
        does), so the remaining columns are keyed on few rows. The survivors are compared
        exactly, so a key collision can never report a false duplicate.
        """
        cols = self.columns if columns is None else list(columns)
        out = np.zeros(self.n, dtype=bool)
        if self.n == 0 or not cols:
            return out
        ordered = sorted(cols, key=lambda c: _textual(self.df[c].dtype))
        rows, acc = None, np.zeros(self.n, dtype=np.uint64)
        for i, column in enumerate(ordered, start=1):
            np.bitwise_xor(acc, self._row_key(column, rows), out=acc)  # FNV-style mixing
            np.multiply(acc, _PRIME, out=acc)
            if i % 3 == 2 or i == len(ordered):
                keep = _repeated(acc)
                rows, acc = (np.flatnonzero(keep) if rows is None else rows[keep]), acc[keep]
                if rows.size == 0:
                    return out
        out[rows[self.df.iloc[rows].duplicated(subset=cols).to_numpy()]] = True
        return out


_RULE_ADAPTER: TypeAdapter = TypeAdapter(Rule)


def validate_frame(
    df: pd.DataFrame,
    rules: Iterable[Rule | Mapping],
    *,
    stage: str,
    source: str,
    failing_rows: int = 5,
    previous_max: dict[str, pd.Timestamp] | None = None,
    now: pd.Timestamp | None = None,
) -> ValidationReport:
    """Check a frame against rules; never raises on odd data (a broken rule is a failed result).

    Args:
        df: The batch.
        rules: Rule models from the config (plain mappings are validated into rules).
        stage: `raw`, `processed` or `features`.
        source: The file name or batch id, shown in messages and reports.
        failing_rows: How many offending rows each result keeps.
        previous_max: Newest timestamp per column in the last good data version, for
            freshness rules with `reference: previous`.
        now: The reference time for freshness rules (default: the wall clock); naive is UTC.

    Returns:
        The report holding one or more results per rule.
    """
    started = time.perf_counter()
    created = pd.Timestamp.now(tz="UTC")
    ctx = CheckContext(
        view=FrameView(df),
        failing_rows=failing_rows,
        previous_max=dict(previous_max or {}),
        now=created if now is None else to_utc(now),
    )
    results: list[RuleResult] = []
    for rule in rules:
        model = _RULE_ADAPTER.validate_python(rule) if isinstance(rule, Mapping) else rule
        results.extend(run_rule(ctx, model))
    return ValidationReport(
        stage=stage,
        source=source,
        n_rows=len(df),
        n_columns=df.shape[1],
        results=results,
        created_at=created.isoformat(),
        duration_s=round(time.perf_counter() - started, 4),
    )
