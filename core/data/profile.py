"""Per-column summaries of a data version and the comparison of two versions.

Pure functions over DataFrames: the Data page shows their output, tests call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as pdt

PLOT_SAMPLE_ROWS = 50_000
_STATS = ("mean", "std", "missing_share", "top_share")


def column_kind(series: pd.Series) -> str:
    """`numeric`, `datetime` or `categorical` (text, category and bool columns)."""
    if pdt.is_bool_dtype(series.dtype):
        return "categorical"
    if pdt.is_numeric_dtype(series.dtype):
        return "numeric"
    if pdt.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    return "categorical"


def _column_stats(series: pd.Series) -> dict:
    kind = column_kind(series)
    n = len(series)
    stats: dict = {
        "column": str(series.name),
        "kind": kind,
        "dtype": str(series.dtype),
        "missing_share": float(series.isna().mean()) if n else 0.0,
        "unique": int(series.nunique(dropna=True)),
        "mean": np.nan,
        "std": np.nan,
        "min": None,
        "max": None,
        "top": None,
        "top_share": np.nan,
    }
    values = series.dropna()
    if values.empty:
        return stats
    if kind == "numeric":
        numbers = values.astype("float64")
        stats.update(
            mean=float(numbers.mean()),
            std=float(numbers.std(ddof=1)),
            min=str(numbers.min()),
            max=str(numbers.max()),
        )
    elif kind == "datetime":
        stats.update(min=str(values.min()), max=str(values.max()))
    else:
        counts = values.astype(str).value_counts()
        stats.update(top=str(counts.index[0]), top_share=float(counts.iloc[0] / len(values)))
    return stats


def profile_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per column: kind, dtype, missing share, distinct count and summary statistics.

    Args:
        df: Any frame.

    Returns:
        A frame indexed by column name with `kind`, `dtype`, `missing_share`, `unique`,
        `mean`, `std`, `min`, `max` (as text), `top` and `top_share` (categoricals only;
        the share among non-null values).
    """
    rows = [_column_stats(df[c]) for c in df.columns]
    columns = [
        "column",
        "kind",
        "dtype",
        "missing_share",
        "unique",
        "mean",
        "std",
        "min",
        "max",
        "top",
        "top_share",
    ]
    return pd.DataFrame(rows, columns=columns).set_index("column")


@dataclass
class FrameComparison:
    """How a newer frame `b` differs from an older frame `a`."""

    rows_a: int
    rows_b: int
    columns: pd.DataFrame
    """Per shared column: `kind` and, for each statistic, its value in a, in b and the delta."""
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def rows_delta(self) -> int:
        """Row count of b minus that of a."""
        return self.rows_b - self.rows_a


def compare_frames(a: pd.DataFrame, b: pd.DataFrame) -> FrameComparison:
    """Compare two versions column by column.

    Numeric columns compare mean, std and missing share; categorical columns compare the
    share of their most frequent value and missing share; datetime columns missing share.

    Args:
        a: The reference (older) frame.
        b: The frame to compare with it.

    Returns:
        Row counts, columns added and removed, and a per-column table with `<stat>_a`,
        `<stat>_b` and `<stat>_delta` (b - a) for mean, std, missing_share and top_share.
    """
    pa, pb = profile_frame(a), profile_frame(b)
    shared = [c for c in pa.index if c in pb.index]
    table = pd.DataFrame(index=pd.Index(shared, name="column"))
    table["kind"] = pb.loc[shared, "kind"] if shared else pd.Series(dtype=object)
    for stat in _STATS:
        va = pa.loc[shared, stat].astype("float64")
        vb = pb.loc[shared, stat].astype("float64")
        table[f"{stat}_a"], table[f"{stat}_b"], table[f"{stat}_delta"] = va, vb, vb - va
    return FrameComparison(
        rows_a=len(a),
        rows_b=len(b),
        columns=table,
        added=[c for c in pb.index if c not in pa.index],
        removed=[c for c in pa.index if c not in pb.index],
    )


def sample_rows(df: pd.DataFrame, n: int = PLOT_SAMPLE_ROWS, seed: int = 0) -> pd.DataFrame:
    """At most `n` rows, drawn reproducibly; the frame itself when it is small enough."""
    return df if len(df) <= n else df.sample(n=n, random_state=seed)


def category_counts(series: pd.Series, top: int = 30) -> pd.DataFrame:
    """Count the `top` most frequent values (nulls as `<null>`), with their share of rows."""
    counts = series.astype(object).where(series.notna(), "<null>").astype(str).value_counts()
    head = counts.head(top)
    return pd.DataFrame(
        {
            "value": head.index,
            "count": head.to_numpy(),
            "share": head.to_numpy() / max(len(series), 1),
        }
    )
