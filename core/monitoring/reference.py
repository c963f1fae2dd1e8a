"""The reference profile: what a drift check compares a window with, built once per model.

Per column: its kind, counts, moments, and either the exact distinct values with their counts
(categorical columns, numeric columns with few distinct values) or a quantile sketch (numeric
columns with many); plus a row sample for exact tests and the Evidently report. Saved as
`reference_profile.json` + `reference_sample.parquet` (an MLflow artifact of the model
version's run, see `core.monitoring.profiles`).

A model's profile covers its raw inputs, timestamps through their date parts (see
`core.monitoring.inputs`): `derive` says how a window's records get those derived columns.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from core.config.monitoring import ReferenceConfig
from core.monitoring import stats

PROFILE_FILE = "reference_profile.json"
SAMPLE_FILE = "reference_sample.parquet"
PREDICTION = "prediction"
PROBABILITY = "probability"
FORMAT = 2
"""2: `derive` (raw-input profiles); 1: profiles of engineered records (read the same way)."""
INTEGER_CATEGORICAL_MAX = 10
"""Integer columns with at most this many distinct values are categorical (as Evidently)."""
MIN_EXACT_VALUES = 100
MAX_CATEGORIES = 10_000


def canonical(value) -> str:
    """The key of a categorical value: `1`, `1.0` and `np.int64(1)` are all `"1"`."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def infer_kind(series: pd.Series, forced: str | None = None) -> str | None:
    """`numeric`, `categorical`, or None (datetime: not checked), Evidently's inference.

    Float → numeric; integer → categorical with at most 10 distinct values, else numeric;
    bool, text and category → categorical.
    """
    if forced:
        return forced
    dtype = series.dtype
    if pdt.is_bool_dtype(dtype):
        return "categorical"
    if pdt.is_datetime64_any_dtype(dtype) or pdt.is_timedelta64_dtype(dtype):
        return None
    if pdt.is_float_dtype(dtype):
        return "numeric"
    if pdt.is_integer_dtype(dtype):
        return "categorical" if series.nunique() <= INTEGER_CATEGORICAL_MAX else "numeric"
    return "categorical"


def numeric_values(series: pd.Series) -> np.ndarray:
    """Finite values of a column as float64 (NaN and ±inf dropped, as Evidently)."""
    x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return x[np.isfinite(x)]


def category_counts(series: pd.Series) -> dict[str, int]:
    """Counts of the non-null values by canonical key, most frequent first."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        uniques = series.cat.categories
    else:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    out: dict[str, int] = {}
    for value, n in zip(uniques, counts, strict=True):
        if n:
            key = canonical(value)
            out[key] = out.get(key, 0) + int(n)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


@dataclass
class ColumnProfile:
    """The reference summary of one column."""

    kind: str
    count: int
    """Non-null (finite) values."""
    missing: int
    unique: int
    integer: bool = False
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    values: list | None = None
    """Exact distinct values (numeric, ascending) or categories (canonical keys)."""
    counts: list[int] | None = None
    sketch: list[float] | None = None
    """A many-valued numeric column's quantiles at the middle of each level block."""
    sketch_weights: list[float] | None = None
    """The probability mass each sketch point stands for."""
    quantiles: list[float] | None = None
    """The column's quantiles at `quantile_levels` (min … max)."""
    quantile_levels: list[float] | None = None
    """k + 1 probabilities from 0 to 1, denser towards both tails."""
    sketch_error: float | None = None
    """Normed Wasserstein distance between the column and its sketch: the bound on the error."""
    other: int = 0
    """Values beyond the kept categories."""

    @property
    def exact(self) -> bool:
        return self.values is not None

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference values and weights for the Wasserstein distance."""
        if self.values is not None:
            return np.asarray(self.values, dtype=float), np.asarray(self.counts, dtype=float)
        sketch = np.asarray(self.sketch, dtype=float)
        weights = self.sketch_weights or np.ones(sketch.size)
        return sketch, np.asarray(weights, dtype=float)

    def category_map(self) -> dict[str, int]:
        """Category → count (categorical columns)."""
        out = dict(zip(self.values or [], self.counts or [], strict=True))
        if self.other:
            out["__other__"] = self.other
        return out

    def value_map(self) -> dict[float, int]:
        """Exact numeric value → count."""
        return dict(zip(self.values or [], self.counts or [], strict=True))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def profile_numeric(series: pd.Series, cfg: ReferenceConfig) -> ColumnProfile:
    """Moments, exact values or a quantile sketch of a numeric column."""
    x = np.sort(numeric_values(series))
    col = ColumnProfile(
        "numeric",
        int(x.size),
        int(len(series) - x.size),
        0,
        integer=bool(pdt.is_integer_dtype(series.dtype)),
    )
    if not x.size:
        return col
    uniques, counts = np.unique(x, return_counts=True)
    col.unique = int(uniques.size)
    col.mean, col.std = float(x.mean()), float(np.std(x))
    col.min, col.max = float(x[0]), float(x[-1])
    if uniques.size <= max(cfg.exact_values, MIN_EXACT_VALUES):
        col.values, col.counts = uniques.tolist(), counts.tolist()
        return col
    levels = sketch_levels(cfg.quantiles)
    sketch = np.quantile(x, (levels[:-1] + levels[1:]) / 2)
    weights = np.diff(levels)
    col.sketch, col.sketch_weights = sketch.tolist(), weights.tolist()
    col.quantiles, col.quantile_levels = np.quantile(x, levels).tolist(), levels.tolist()
    col.sketch_error = stats.normed_wasserstein(x, sketch, weights, col.std)
    return col


def sketch_levels(k: int) -> np.ndarray:
    """Probabilities 0 = p0 < ... < pk = 1 spaced as (1 - cos(pi t)) / 2: finer in the tails.

    Where a long tail spreads few values over a wide range, thinner blocks keep the sketch's
    Wasserstein error small (on a log-normal, about 4x smaller than equal blocks).
    """
    return (1.0 - np.cos(np.pi * np.linspace(0.0, 1.0, k + 1))) / 2.0


def profile_categorical(series: pd.Series) -> ColumnProfile:
    """Category counts of a categorical column (the most frequent `MAX_CATEGORIES` kept)."""
    counts = category_counts(series)
    kept = list(counts.items())[:MAX_CATEGORIES]
    total = sum(counts.values())
    return ColumnProfile(
        "categorical",
        total,
        int(len(series) - total),
        len(counts),
        values=[k for k, _ in kept],
        counts=[n for _, n in kept],
        other=total - sum(n for _, n in kept),
    )


def profile_column(series: pd.Series, kind: str, cfg: ReferenceConfig) -> ColumnProfile:
    """The summary of one column of the given kind."""
    return profile_numeric(series, cfg) if kind == "numeric" else profile_categorical(series)


@dataclass
class ReferenceProfile:
    """Everything a drift or performance check needs to know about the reference."""

    columns: dict[str, ColumnProfile]
    rows: int
    task: str | None = None
    target_name: str | None = None
    target: ColumnProfile | None = None
    prediction: ColumnProfile | None = None
    probability: ColumnProfile | None = None
    performance: dict[str, float] | None = None
    """Baseline metrics of the model on the reference rows (out-of-sample)."""
    source: dict = field(default_factory=dict)
    created: str = ""
    derive: dict | None = None
    """The `features` dict (date parts; interactions and bins when engineered) computing the
    derived columns from a record (`core.monitoring.inputs.derive_columns`); None: the columns
    are taken as they are (file profiles, profiles of models that took engineered records)."""
    importance: dict[str, float] | None = None
    """How much the model relies on each watched column (shares summing to 1, see
    `core.monitoring.importance`); None: unknown (a file's profile, an older profile)."""
    sample: pd.DataFrame | None = field(default=None, repr=False)
    sample_path: Path | None = field(default=None, repr=False)

    def sample_frame(self) -> pd.DataFrame:
        """The reference row sample (read from disk on first use)."""
        if self.sample is None and self.sample_path is not None and self.sample_path.is_file():
            self.sample = pd.read_parquet(self.sample_path)
        if self.sample is None:
            return pd.DataFrame()
        return self.sample

    def prepare(self, frame: pd.DataFrame, *, fill_missing: bool = False) -> pd.DataFrame:
        """The current rows with the derived columns computed from their records.

        Args:
            frame: Current rows (decoded records: timestamps as ISO-8601 strings or datetimes).
            fill_missing: Add the profiled columns no row has as empty ones (a prediction log:
                an optional field no client sent), so they are reported, not refused.
        """
        from core.monitoring.inputs import derive_columns

        out = derive_columns(frame, self.derive)
        if fill_missing:
            absent = [c for c in self.columns if c not in out.columns]
            if absent:
                attrs = dict(out.attrs)
                out = out.assign(**{c: np.nan for c in absent})
                out.attrs = attrs
        return out

    def to_dict(self) -> dict:
        extra = {
            name: getattr(self, name).to_dict()
            for name in ("target", "prediction", "probability")
            if getattr(self, name) is not None
        }
        return {
            "format": FORMAT,
            "created": self.created,
            "source": self.source,
            "rows": self.rows,
            "task": self.task,
            "target_name": self.target_name,
            "performance": self.performance,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "derive": self.derive,
            "importance": self.importance,
            **extra,
        }

    @classmethod
    def from_dict(cls, data: dict, sample_path: Path | None = None) -> ReferenceProfile:
        def col(d):
            return None if d is None else ColumnProfile(**d)

        return cls(
            columns={name: ColumnProfile(**d) for name, d in data["columns"].items()},
            rows=data["rows"],
            task=data.get("task"),
            target_name=data.get("target_name"),
            target=col(data.get("target")),
            prediction=col(data.get("prediction")),
            probability=col(data.get("probability")),
            performance=data.get("performance"),
            source=data.get("source") or {},
            created=data.get("created", ""),
            derive=data.get("derive"),
            importance=data.get("importance"),
            sample_path=sample_path,
        )

    def save(self, folder: Path) -> Path:
        """Write `reference_profile.json` (and the sample parquet) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PROFILE_FILE
        path.write_text(json.dumps(self.to_dict(), allow_nan=True), encoding="utf-8")
        sample = self.sample_frame()
        if not sample.empty:
            sample.to_parquet(folder / SAMPLE_FILE, index=False)
        return path

    @classmethod
    def load(cls, folder: Path) -> ReferenceProfile:
        """Read a profile saved by `save`."""
        data = json.loads((folder / PROFILE_FILE).read_text(encoding="utf-8"))
        return cls.from_dict(data, folder / SAMPLE_FILE)


def build_profile(
    frame: pd.DataFrame,
    features: list[str],
    cfg: ReferenceConfig | None = None,
    *,
    types: dict[str, str] | None = None,
    target: str | None = None,
    task: str | None = None,
    predictions: pd.DataFrame | None = None,
    performance: dict[str, float] | None = None,
    source: dict | None = None,
    seed: int = 0,
    derive: dict | None = None,
) -> ReferenceProfile:
    """Profile the reference rows.

    Args:
        frame: The reference rows (features, and the target when known).
        features: Feature columns to profile (datetime columns are skipped).
        cfg: Sketch and sample sizes.
        types: Column → forced kind.
        target: Target column name (profiled when present in `frame`).
        task: `classification` (target and predictions categorical) or `regression`.
        predictions: `prediction` (and `probability`) of the model on these rows, same index.
        performance: Baseline metrics of the model on these rows.
        source: Where the reference came from (model, version, data version, file).
        seed: Seed of the row sample.
        derive: A `features` dict whose derived columns (timestamps' date parts, engineered
            columns) are computed from `frame` and profiled after `features`; kept in the
            profile so a window computes them the same way.
    """
    cfg = cfg or ReferenceConfig()
    types = types or {}
    if derive:
        from core.monitoring.inputs import derive_columns, derived_names

        frame = derive_columns(frame, derive)
        derived = [n for n in derived_names(derive) if n in frame and n not in features]
        features = [*features, *derived]
    columns = {}
    for name in features:
        kind = infer_kind(frame[name], types.get(name))
        if kind is not None:
            columns[name] = profile_column(frame[name], kind, cfg)
    outcome_kind = "categorical" if task == "classification" else "numeric"
    profile = ReferenceProfile(
        columns=columns,
        rows=len(frame),
        task=task,
        target_name=target,
        performance=performance,
        source=source or {},
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        derive=derive or None,
    )
    if target and target in frame:
        profile.target = profile_column(frame[target], outcome_kind, cfg)
    sample = frame[[c for c in [*columns, target] if c and c in frame]]
    if predictions is not None:
        if PREDICTION in predictions:
            profile.prediction = profile_column(predictions[PREDICTION], outcome_kind, cfg)
        if PROBABILITY in predictions and predictions[PROBABILITY].notna().any():
            profile.probability = profile_numeric(predictions[PROBABILITY], cfg)
        sample = sample.join(
            predictions[[c for c in (PREDICTION, PROBABILITY) if c in predictions]]
        )
    if len(sample) > cfg.sample_rows:
        sample = sample.sample(cfg.sample_rows, random_state=seed).sort_index()
    profile.sample = sample.reset_index(drop=True)
    return profile
