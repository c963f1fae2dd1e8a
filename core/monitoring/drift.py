"""The drift engine: a window (or any table) against a reference profile.

Per column the method is Evidently's default choice (KS / chi-square / Z for a reference of at
most 1,000 values, normed Wasserstein / Jensen-Shannon above), unless the config overrides it
per column or per kind; PSI is always reported. The dataset drifts when the share of drifted
feature columns reaches `monitoring.drift.share`. Prediction and target drift are reported
beside the features and do not count in the share.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from core.config.monitoring import METHODS_BY_KIND, DriftConfig, MethodOverride
from core.errors import ConfigError, WorkbenchError
from core.monitoring import stats
from core.monitoring.reference import (
    PREDICTION,
    PROBABILITY,
    ColumnProfile,
    ReferenceProfile,
    category_counts,
    numeric_values,
)

OTHER = "__other__"


class DriftInputError(WorkbenchError):
    """The current data cannot be compared with the reference (missing or unusable columns)."""


@dataclass
class ColumnDrift:
    """The verdict on one column."""

    column: str
    kind: str
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    psi: float | None
    reference_rows: int
    current_rows: int
    note: str | None = None
    """Why a column was skipped, or the bound of an approximation."""

    @property
    def checked(self) -> bool:
        return self.method is not None

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "score": _finite(self.score),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "psi": _finite(self.psi),
        }


@dataclass
class DriftResult:
    """The verdicts on every column of one check."""

    columns: dict[str, ColumnDrift]
    drift_share: float
    rows: int
    reference_rows: int
    prediction: dict[str, ColumnDrift] = field(default_factory=dict)
    target: ColumnDrift | None = None
    importance: dict[str, float] | None = None
    """The model's reliance on each column (the profile's `importance`); None: unknown."""

    @property
    def checked(self) -> list[ColumnDrift]:
        return [c for c in self.columns.values() if c.checked]

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.checked if c.drifted]

    @property
    def share(self) -> float:
        checked = self.checked
        return len(self.drifted) / len(checked) if checked else 0.0

    @property
    def weighted_share(self) -> float | None:
        """The drifted columns' share of the model's importance over the checked columns.

        1.0 when every column the model relies on drifted, near 0 when only columns it hardly
        uses did; None without importance (a file's profile, an older profile).
        """
        if not self.importance:
            return None
        checked = [c.column for c in self.checked]
        total = sum(self.importance.get(c, 0.0) for c in checked)
        if total <= 0:
            return None
        return sum(self.importance.get(c, 0.0) for c in self.drifted) / total

    @property
    def dataset_drift(self) -> bool:
        return bool(self.checked) and self.share >= self.drift_share

    @property
    def prediction_drift(self) -> bool:
        return any(c.drifted for c in self.prediction.values())

    @property
    def target_drift(self) -> bool:
        return self.target is not None and self.target.drifted

    def to_json(self) -> dict:
        """The summary the CLI writes with `--json`.

        `{"dataset_drift", "share", "columns": {name: {method, score, threshold, drifted,
        psi}}}` plus prediction and target drift and the row counts.
        """
        return {
            "dataset_drift": self.dataset_drift,
            "share": self.share,
            "weighted_share": self.weighted_share,
            "importance": self.importance,
            "drift_share": self.drift_share,
            "columns": {name: c.to_json() for name, c in self.columns.items()},
            "prediction_drift": {name: c.to_json() for name, c in self.prediction.items()},
            "target_drift": None if self.target is None else self.target.to_json(),
            "rows": self.rows,
            "reference_rows": self.reference_rows,
        }

    def details(self) -> list[dict]:
        """Every column verdict as a flat record (features, then prediction and target)."""
        rows = [{"role": "feature", **asdict(c)} for c in self.columns.values()]
        rows += [{"role": "prediction", **asdict(c)} for c in self.prediction.values()]
        if self.target is not None:
            rows.append({"role": "target", **asdict(self.target)})
        return rows


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# --------------------------------------------------------------------------- choosing
def resolve(name: str, kind: str, cfg: DriftConfig) -> MethodOverride:
    """The configured method and threshold of a column: per column, else per kind."""
    own = cfg.columns.get(name, MethodOverride())
    per_kind = getattr(cfg, kind)
    method = own.method or per_kind.method
    if method is not None and method not in METHODS_BY_KIND[kind]:
        raise ConfigError(
            f"monitoring.drift.columns.{name}.method: {method!r} does not apply to the {kind} "
            f"column '{name}' (use one of {', '.join(METHODS_BY_KIND[kind])})"
        )
    return MethodOverride(method=method, threshold=own.threshold or per_kind.threshold)


def _skipped(name: str, ref: ColumnProfile, n: int, note: str) -> ColumnDrift:
    return ColumnDrift(name, ref.kind, None, None, None, False, None, ref.count, n, note)


# --------------------------------------------------------------------------- one column
def _numeric(name: str, ref: ColumnProfile, series: pd.Series, chosen: MethodOverride, sample):
    """Sample: a callable returning the reference row sample (read only for the KS test)."""
    cur = np.sort(numeric_values(series))
    if not cur.size:
        return _skipped(name, ref, 0, "no numeric values in the current data")
    few = ref.unique <= stats.BINNED_MIN_UNIQUE
    cur_counts = None
    if few:
        u, c = np.unique(cur, return_counts=True)
        cur_counts = dict(zip(u.tolist(), c.tolist(), strict=True))
    n_values = ref.unique if ref.unique > 5 else len(set(ref.values or []) | set(cur_counts))
    method = chosen.method or stats.default_method("numeric", ref.count, n_values)
    if few:
        r, c = stats.aligned(ref.value_map(), cur_counts)
        r_share, c_share = r / r.sum(), c / c.sum()
    else:
        r_share, c_share = _binned(ref, cur, pdt.is_integer_dtype(series.dtype))
    note = None
    if method == "wasserstein":
        values, weights = ref.support()
        score = stats.normed_wasserstein(cur, values, weights, ref.std)
        if not ref.exact:
            note = f"reference sketch: error at most {ref.sketch_error:.2g}"
    elif method == "ks":
        rows = _sample_column(sample(), name)
        score = stats.ks_pvalue(rows, cur)
        if ref.count > rows.size:
            note = f"KS on a reference sample of {rows.size:,} values"
    elif method in ("chisquare", "z"):
        score = _count_test(method, ref.value_map(), cur_counts or _value_counts(cur))
    else:
        score = _distance(method, r_share, c_share)
    return _verdict(name, ref, cur.size, method, score, chosen, stats.psi(r_share, c_share), note)


def _binned(ref: ColumnProfile, cur: np.ndarray, cur_integer: bool):
    """Evidently's histogram of a many-valued numeric column: Sturges bins over both."""
    lo, hi = min(ref.min, float(cur[0])), max(ref.max, float(cur[-1]))
    edges = stats.sturges_edges(lo, hi, ref.count + cur.size, ref.integer and cur_integer)
    values, cum = None, None
    if ref.exact:
        values = np.asarray(ref.values, dtype=float)
        cum = np.concatenate([[0.0], np.cumsum(ref.counts)]) / ref.count
    r = stats.binned_reference(edges, values, cum, ref.quantiles, ref.quantile_levels)
    return r, stats.sorted_histogram(cur, edges) / cur.size


def _value_counts(cur: np.ndarray) -> dict[float, int]:
    u, c = np.unique(cur, return_counts=True)
    return dict(zip(u.tolist(), c.tolist(), strict=True))


def _sample_column(sample: pd.DataFrame, name: str) -> np.ndarray:
    if name not in sample:
        raise DriftInputError(f"the reference sample has no column '{name}' for the KS test")
    return numeric_values(sample[name])


def _categorical(name: str, ref: ColumnProfile, series: pd.Series, chosen: MethodOverride):
    cur = category_counts(series)
    if not cur:
        return _skipped(name, ref, 0, "no values in the current data")
    ref_counts = ref.category_map()
    if ref.other:
        kept = set(ref.values or [])
        folded: dict[str, int] = {}
        for key, n in cur.items():
            k = key if key in kept else OTHER
            folded[k] = folded.get(k, 0) + n
        cur = folded
    n_values = len(set(ref_counts) | set(cur))
    method = chosen.method or stats.default_method("categorical", ref.count, n_values)
    r, c = stats.aligned(ref_counts, cur)
    r_share, c_share = r / r.sum(), c / c.sum()
    if method in ("chisquare", "z"):
        score = _count_test(method, ref_counts, cur)
    else:
        score = _distance(method, r_share, c_share)
    psi = stats.psi(r_share, c_share)
    return _verdict(name, ref, int(c.sum()), method, score, chosen, psi, None)


def _count_test(method: str, ref: dict, cur: dict) -> float:
    if method == "z":
        return stats.z_pvalue(ref, cur)
    r, c = stats.aligned(ref, cur)
    return stats.chisquare_pvalue(r, c)


def _distance(method: str, r_share: np.ndarray, c_share: np.ndarray) -> float:
    if method == "psi":
        return stats.psi(r_share, c_share)
    if method == "jensenshannon":
        return stats.jensenshannon(r_share, c_share)
    raise DriftInputError(f"method {method!r} needs the raw values")  # pragma: no cover


def _verdict(name, ref, n, method, score, chosen, psi, note) -> ColumnDrift:
    threshold = chosen.threshold or stats.DEFAULT_THRESHOLDS[method]
    drifted = stats.is_drift(method, score, threshold)
    return ColumnDrift(name, ref.kind, method, score, threshold, drifted, psi, ref.count, n, note)


def column_drift(
    name: str, ref: ColumnProfile, series: pd.Series, cfg: DriftConfig, sample=pd.DataFrame
) -> ColumnDrift:
    """The verdict on one column of the current data against its reference summary.

    Args:
        name: Column name.
        ref: Its reference summary.
        series: Its current values.
        cfg: Methods and thresholds.
        sample: Returns the reference row sample (called only for the KS test).
    """
    if ref.count == 0:
        return _skipped(name, ref, int(series.notna().sum()), "no values in the reference")
    chosen = resolve(name, ref.kind, cfg)
    if ref.kind == "numeric":
        if not (pdt.is_numeric_dtype(series.dtype) or pdt.is_bool_dtype(series.dtype)):
            series = pd.to_numeric(series, errors="coerce")
        return _numeric(name, ref, series, chosen, sample)
    return _categorical(name, ref, series, chosen)


# --------------------------------------------------------------------------- the check
def check_drift(
    profile: ReferenceProfile, current: pd.DataFrame, cfg: DriftConfig | None = None
) -> DriftResult:
    """Compare the current rows with the reference profile.

    Args:
        profile: The reference profile.
        current: The current rows: the reference's feature columns (extra columns are ignored;
            derived ones missing are computed from their records, see `profile.derive`),
            optionally `prediction` / `probability` and the target column.
        cfg: Methods, thresholds, exclusions and the dataset drift share.

    Raises:
        DriftInputError: A feature column of the reference is missing from `current`.
    """
    cfg = cfg or DriftConfig()
    if profile.derive:  # raw records: their timestamps' date parts (see `profile.prepare`)
        from core.monitoring.inputs import derive_columns

        current = derive_columns(current, profile.derive, overwrite=False)
    names = [n for n in profile.columns if n not in set(cfg.exclude)]
    missing = [n for n in names if n not in current.columns]
    if missing:
        raise DriftInputError(
            f"the current data lacks {len(missing)} reference column(s): {', '.join(missing)}"
        )
    sample = profile.sample_frame
    result = DriftResult(
        {n: column_drift(n, profile.columns[n], current[n], cfg, sample) for n in names},
        cfg.share,
        len(current),
        profile.rows,
        importance=profile.importance,
    )
    for name, ref in ((PREDICTION, profile.prediction), (PROBABILITY, profile.probability)):
        if ref is not None and name in current and current[name].notna().any():
            result.prediction[name] = column_drift(name, ref, current[name], cfg, sample)
    target = profile.target_name
    if profile.target is not None and target in current and current[target].notna().any():
        result.target = column_drift(target, profile.target, current[target], cfg, sample)
    return result
