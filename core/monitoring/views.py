"""Frames for the Drift page's charts: reference vs current distributions of one column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.monitoring import stats
from core.monitoring.reference import ColumnProfile, category_counts, numeric_values

TOP_CATEGORIES = 20


def numeric_overlay(ref: ColumnProfile, series: pd.Series, bins: int = 30) -> pd.DataFrame:
    """Shares of reference and current values in equal-width bins over both ranges.

    Returns:
        Columns `left`, `right`, `value` (bin centre), `reference`, `current` (shares).
    """
    cur = np.sort(numeric_values(series))
    lo = min(ref.min, float(cur[0])) if cur.size else ref.min
    hi = max(ref.max, float(cur[-1])) if cur.size else ref.max
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    values = cum = None
    if ref.exact:
        values = np.asarray(ref.values, dtype=float)
        cum = np.concatenate([[0.0], np.cumsum(ref.counts)]) / ref.count
    reference = stats.binned_reference(edges, values, cum, ref.quantiles, ref.quantile_levels)
    current = stats.sorted_histogram(cur, edges) / cur.size if cur.size else np.zeros(bins)
    return pd.DataFrame(
        {
            "left": edges[:-1],
            "right": edges[1:],
            "value": (edges[:-1] + edges[1:]) / 2,
            "reference": reference,
            "current": current,
        }
    )


def categorical_overlay(ref: ColumnProfile, series: pd.Series, top: int = TOP_CATEGORIES):
    """Shares per category (the most frequent in either; the rest summed as `(other)`)."""
    r = ref.category_map()
    c = category_counts(series)
    r_total, c_total = max(sum(r.values()), 1), max(sum(c.values()), 1)
    keys = sorted(set(r) | set(c), key=lambda k: -(r.get(k, 0) / r_total + c.get(k, 0) / c_total))
    rows = [
        {"value": k, "reference": r.get(k, 0) / r_total, "current": c.get(k, 0) / c_total}
        for k in keys[:top]
    ]
    if len(keys) > top:
        rest = keys[top:]
        rows.append(
            {
                "value": "(other)",
                "reference": sum(r.get(k, 0) for k in rest) / r_total,
                "current": sum(c.get(k, 0) for k in rest) / c_total,
            }
        )
    return pd.DataFrame(rows, columns=["value", "reference", "current"])


def overlay(ref: ColumnProfile, series: pd.Series) -> pd.DataFrame:
    """The overlay frame of a column of either kind."""
    if ref.kind == "numeric" and ref.count:
        return numeric_overlay(ref, series)
    return categorical_overlay(ref, series)
