"""The drift statistics, computed the way Evidently 0.7 computes them, from compact summaries.

Evidently's implementations (`evidently.legacy.calculations.stattests`) take both full columns.
Here the reference side is a summary kept in the reference profile: exact distinct values with
counts (categorical columns, numeric columns with few distinct values), a quantile sketch of
many-valued numeric columns, and a row sample for the exact tests. The current side is the
window's column: sorted once, after which histograms are binary searches.

Identical to Evidently (same inputs, same formula, differences only from float summation order):
`ks`, `chisquare`, `z`, `jensenshannon`, `psi`, and `wasserstein` whenever the reference column
has exact values. A many-valued reference column is represented by `quantiles` equal-mass
points for `wasserstein` (error bounded by the profile's stored `sketch_error`, by the triangle
inequality) and by its interpolated quantile function for the binned methods.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
SMALL_REFERENCE = 1000
"""Evidently picks exact tests up to this many reference rows, distances above."""
BINNED_MIN_UNIQUE = 20
"""Evidently bins numeric columns with more distinct reference values; counts values below."""


def default_method(kind: str, reference_rows: int, n_values: int) -> str:
    """Evidently's default method for a column (`_get_default_stattest`).

    Args:
        kind: `numeric` or `categorical`.
        reference_rows: Non-null reference values of the column.
        n_values: Distinct non-null values in reference and current together.
    """
    if reference_rows <= SMALL_REFERENCE:
        if kind == "numeric" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numeric" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def is_drift(method: str, score: float, threshold: float) -> bool:
    """Evidently's verdict: p-value at most (ks) or below the threshold; distance at least it."""
    if math.isnan(score):
        return False
    if method == "ks":
        return score <= threshold
    if method in P_VALUE_METHODS:
        return score < threshold
    return score >= threshold


# --------------------------------------------------------------------------- tests on counts
def aligned(ref: dict, cur: dict) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the union of keys (reference order first), as float arrays."""
    keys = list(ref) + [k for k in cur if k not in ref]
    return (
        np.array([ref.get(k, 0) for k in keys], dtype=float),
        np.array([cur.get(k, 0) for k in keys], dtype=float),
    )


def chisquare_pvalue(ref: np.ndarray, cur: np.ndarray) -> float:
    """Chi-square goodness of fit of current counts to reference proportions."""
    from scipy.stats import chisquare

    expected = ref * (cur.sum() / ref.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(chisquare(cur, expected)[1])


def z_pvalue(ref: dict, cur: dict) -> float:
    """Two-proportion Z-test on the share of the first (sorted) value, two-sided."""
    from scipy.stats import norm

    keys = sorted(set(ref) | set(cur))
    if len(keys) == 1:
        return 1.0
    n1, n2 = sum(ref.values()), sum(cur.values())
    p1 = (n1 - ref.get(keys[0], 0)) / n1
    p2 = (n2 - cur.get(keys[0], 0)) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def ks_pvalue(ref: np.ndarray, cur: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (scipy's `ks_2samp`, as Evidently)."""
    import warnings

    from scipy.stats import ks_2samp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "exact calculation unsuccessful"
        return float(ks_2samp(ref, cur)[1])


# --------------------------------------------------------------------------- distances
def jensenshannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two proportion vectors."""
    from scipy.spatial import distance

    return float(distance.jensenshannon(ref, cur))


def _fill_zeros(p: np.ndarray) -> np.ndarray:
    """Evidently's `feel_zeroes`: empty bins get a tiny share so the log is finite."""
    p = p.astype(float).copy()
    nonzero = p[p != 0]
    if nonzero.size and nonzero.size < p.size:
        low = nonzero.min()
        p[p == 0] = low / 10**6 if low <= 0.0001 else 0.0001
    return p


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """Population stability index of two proportion vectors (zero bins filled as Evidently)."""
    r, c = _fill_zeros(ref), _fill_zeros(cur)
    return float(np.sum((r - c) * np.log(r / c)))


def wasserstein(cur_sorted: np.ndarray, values: np.ndarray, weights: np.ndarray) -> float:
    """First Wasserstein distance between a sorted sample and a weighted discrete distribution.

    Exact (scipy's `wasserstein_distance` of the two), in O(n + k log n): the integral of the
    absolute CDF difference over the merged support, without re-sorting the n current values.

    Args:
        cur_sorted: The current values, sorted ascending (n ≥ 1).
        values: The reference support, sorted ascending (k ≥ 1).
        weights: Non-negative weights of `values` (counts, or equal for a quantile sketch).
    """
    n, k = cur_sorted.size, values.size
    cum = np.concatenate([[0.0], np.cumsum(weights, dtype=float)])
    cum /= cum[-1]
    slot = np.searchsorted(cur_sorted, values, side="right")  # reference j goes before slot j
    # Segments starting at current points: reference CDF steps between the slots.
    diff = np.repeat(cum, np.diff(np.concatenate([[0], slot, [n]])))  # reference CDF
    cur_cdf = np.arange(1, n + 1, dtype=float)
    cur_cdf /= n
    diff -= cur_cdf  # in place: a million-row column allocates three arrays, not five
    np.abs(diff, out=diff)
    gaps = cur_cdf  # reused
    np.subtract(cur_sorted[1:], cur_sorted[:-1], out=gaps[:-1])
    gaps[-1] = 0.0
    slots, first = np.unique(slot, return_index=True)
    inner = slots >= 1
    gaps[slots[inner] - 1] = values[first[inner]] - cur_sorted[slots[inner] - 1]
    total = float(diff @ gaps)
    # Segments starting at reference points end at the next reference or current point.
    ends = np.empty(k)
    shared = np.zeros(k, dtype=bool)
    shared[:-1] = slot[1:] == slot[:-1]
    ends[:-1] = values[1:]
    to_current = ~shared & (slot < n)
    ends[to_current] = cur_sorted[slot[to_current]]
    last = ~shared & (slot >= n)
    ends[last] = values[last]
    total += float(np.abs(cum[1:] - slot / n) @ (ends - values))
    return total


def normed_wasserstein(
    cur_sorted: np.ndarray, values: np.ndarray, weights: np.ndarray, ref_std: float
) -> float:
    """Wasserstein distance divided by the reference's standard deviation (at least 0.001)."""
    return wasserstein(cur_sorted, values, weights) / max(float(ref_std), 0.001)


# --------------------------------------------------------------------------- binning
def sturges_edges(lo, hi, size: int, integer: bool) -> np.ndarray:
    """`np.histogram_bin_edges(combined, "sturges")` from the combined min, max and size."""
    lo_, hi_ = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    ptp = hi - lo
    width = ptp / (np.log2(size) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        bins = int(np.ceil((hi_ - lo_) / width))
    else:
        bins = 1
    return np.linspace(lo_, hi_, bins + 1, endpoint=True, dtype=float)


def sorted_histogram(cur_sorted: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram` counts of sorted values (last bin closed), by binary search."""
    left = np.searchsorted(cur_sorted, edges[:-1], side="left")
    right = np.append(left[1:], np.searchsorted(cur_sorted, edges[-1], side="right"))
    return right - left


def mass_below(values: np.ndarray, cum: np.ndarray, points: np.ndarray, closed: bool) -> np.ndarray:
    """Share of a discrete distribution below (`closed`: at or below) each point."""
    return cum[np.searchsorted(values, points, side="right" if closed else "left")]


def binned_reference(edges: np.ndarray, values, cum, quantiles, levels=None) -> np.ndarray:
    """Reference share per histogram bin: exact from values, else from the quantile function.

    Args:
        edges: Bin edges (the last bin is closed).
        values: Exact reference values, ascending (None for a sketched column).
        cum: Cumulative shares of `values`, starting at 0.
        quantiles: The column's quantiles (sketched columns).
        levels: Their probabilities (default: evenly spaced).
    """
    if values is not None:
        lower = mass_below(values, cum, edges[:-1], closed=False)
        upper = np.append(lower[1:], mass_below(values, cum, edges[-1:], closed=True))
        return upper - lower
    q = np.asarray(quantiles, dtype=float)
    probs = np.linspace(0.0, 1.0, q.size) if levels is None else np.asarray(levels, dtype=float)
    return np.diff(np.interp(edges, q, probs, left=0.0, right=1.0))
