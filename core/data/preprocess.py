"""Batch cleaning for the data pipeline, and the value cleaning inside every model.

The model boundary (README, "The model boundary"): a registered model takes a raw record, exactly as
the source has it minus the target, to a prediction. So only batch-level work stays here in
`clean_batch` (casts for validation, rows without a target, duplicates); everything that must also
apply to one served record lives in fitted scikit-learn transformers the model pipeline starts with:

- `RecordCleaner`: casts, dropped columns, clipping with fences fitted on the training rows;
- `core.data.features.FeatureBuilder`: date parts, interactions, bins;
- `build_transformer`: imputation, encoding, scaling.

`model_front(cfg)` chains the first two; the data pipeline validates its output as the features
stage, so the table checked there is what the model computes (one implementation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from core.config import BOOL_TEXT, DType, PreprocessConfig, WorkbenchConfig


def cast_column(series: pd.Series, dtype: DType) -> pd.Series:
    """Cast one column to a workbench dtype kind; unparsable values become null."""
    if dtype in ("numeric", "float"):
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if dtype == "integer":
        return pd.to_numeric(series, errors="coerce").round().astype("Int64")
    if dtype == "datetime":
        return pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
    if dtype == "bool":
        mapped = series.map(lambda v: BOOL_TEXT.get(str(v).lower()))
        return mapped.astype("boolean")
    if dtype == "category":
        return series.astype("string").astype("category")
    return series.astype("string")


def split_columns(df: pd.DataFrame, exclude: set[str] = frozenset()) -> tuple[list, list]:
    """Numeric and categorical feature columns of a frame (datetimes and `exclude` left out)."""
    numeric, categorical = [], []
    for col in df.columns:
        if col in exclude or pd.api.types.is_datetime64_any_dtype(df[col]):
            continue
        if pd.api.types.is_bool_dtype(df[col]) or not pd.api.types.is_numeric_dtype(df[col]):
            categorical.append(col)
        else:
            numeric.append(col)
    return numeric, categorical


def clip_fences(values: pd.Series, method: str, threshold: float) -> tuple[float, float]:
    """Lower and upper clipping fences by IQR or z-score; never narrower than the data's spread.

    A zero-inflated column (rain: mostly 0) has q1 == q3, and IQR fences of [0, 0] would erase
    every non-zero value. When the quartiles collapse, the fences are computed on the values
    that differ from the median instead (the wet hours), and when those have no spread either,
    the column is not clipped (infinite fences).
    """
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return -np.inf, np.inf
    if method == "iqr":
        low, high = _iqr_fences(arr, threshold)
        if low == high:
            rest = arr[arr != np.median(arr)]
            low, high = _iqr_fences(rest, threshold) if rest.size else (-np.inf, np.inf)
            if low == high:
                return -np.inf, np.inf
            # the collapsed value itself (the zeros) always stays inside the fences
            median = float(np.median(arr))
            low, high = min(low, median), max(high, median)
        return low, high
    mean, std = float(np.mean(arr)), float(np.std(arr))
    if std == 0:
        return -np.inf, np.inf
    return mean - threshold * std, mean + threshold * std


def _iqr_fences(arr: np.ndarray, threshold: float) -> tuple[float, float]:
    q1, q3 = np.percentile(arr, [25, 75])
    spread = q3 - q1
    return float(q1 - threshold * spread), float(q3 + threshold * spread)


def clean_batch(df: pd.DataFrame, cfg: WorkbenchConfig) -> pd.DataFrame:
    """Batch-level cleaning: casts, rows without a target, duplicates; returns a new frame.

    Values are otherwise left as the source has them: dropping columns, clipping and imputation
    happen inside the model (`model_front`, `build_transformer`), fitted on training rows only.
    """
    pre = cfg.preprocessing
    out = df.copy()
    for col, kind in pre.cast.items():
        if col in out.columns:
            out[col] = cast_column(out[col], kind)
    if cfg.time_column and cfg.time_column in out.columns and cfg.time_column not in pre.cast:
        out[cfg.time_column] = cast_column(out[cfg.time_column], "datetime")
    if pre.drop_missing_target and cfg.target in out.columns:
        out = out[out[cfg.target].notna()]
    if pre.dedupe:
        out = out.drop_duplicates()
    return out.reset_index(drop=True)


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "float"
    return "string"


class RecordCleaner(TransformerMixin, BaseEstimator):
    """The value cleaning every record gets, in training and in serving: casts, drops, clipping.

    `fit` learns each input column's kind (from the configured casts, else the training dtype)
    and the clipping fences on the training rows; `transform` casts raw values (JSON numbers,
    strings, ISO-8601 timestamps) to those kinds, drops the configured columns and clips with
    the fitted fences. Columns in `keep` (the target) pass through untouched.

    Args:
        drop: columns dropped (leaky or mostly missing); absent ones are ignored.
        cast: column -> workbench dtype kind (`numeric`, `integer`, `datetime`, `string`, ...).
        clip: the `preprocessing.clip` section as a dict, or None for no clipping.
        datetimes: more columns parsed as timestamps (the time column).
        keep: columns never cast or clipped.
    """

    def __init__(
        self,
        drop: list | None = None,
        cast: dict | None = None,
        clip: dict | None = None,
        datetimes: list | None = None,
        keep: list | None = None,
    ) -> None:
        self.drop = drop
        self.cast = cast
        self.clip = clip
        self.datetimes = datetimes
        self.keep = keep

    def fit(self, X: pd.DataFrame, y=None) -> RecordCleaner:  # noqa: N803 - sklearn naming
        """Learn the column kinds and the clipping fences from training rows."""
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        keep, drop = set(self.keep or ()), set(self.drop or ())
        cast = dict(self.cast or {}) | {c: "datetime" for c in self.datetimes or ()}
        kinds: dict[str, str] = {}
        for col in X.columns:
            if col in keep or col in drop:
                continue
            kinds[col] = _CAST_KIND.get(cast.get(col)) or _kind(X[col])
        self.kinds_ = kinds
        self.fences_: dict[str, tuple[float, float]] = {}
        if self.clip is not None:
            typed = self._cast(X)
            numeric = [c for c, k in kinds.items() if k == "float"]
            for col in self.clip.get("columns") or numeric:
                if col in numeric and typed[col].notna().any():
                    low, high = clip_fences(
                        typed[col], self.clip.get("method", "iqr"), self.clip.get("threshold", 3.0)
                    )
                    if np.isfinite(low) or np.isfinite(high):
                        self.fences_[col] = (low, high)
        return self

    def _cast(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - sklearn naming
        out = X.drop(columns=[c for c in self.drop or () if c in X.columns])
        for col, kind in self.kinds_.items():
            if col in out.columns:
                out[col] = _coerce(out[col], kind)
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - sklearn naming
        """Cast, drop and clip a copy of `X`."""
        out = self._cast(pd.DataFrame(X))
        for col, (low, high) in self.fences_.items():
            if col in out.columns:
                out[col] = out[col].clip(low, high)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Input columns minus the dropped ones."""
        drop = set(self.drop or ())
        return np.asarray([c for c in self.feature_names_in_ if c not in drop], dtype=object)


_CAST_KIND = {
    "numeric": "float",
    "float": "float",
    "integer": "float",
    "datetime": "datetime",
    "bool": "bool",
    "category": "string",
    "string": "string",
}


def _coerce(series: pd.Series, kind: str) -> pd.Series:
    """One column to its fitted kind; unparsable values become missing."""
    if kind == "float":
        if series.dtype == "float64":
            return series
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if kind == "datetime":
        return cast_column(series, "datetime")
    if kind == "bool":
        return series if pd.api.types.is_bool_dtype(series) else cast_column(series, "bool")
    return series


def model_front(cfg: WorkbenchConfig):
    """The unfitted record-to-features part of every model: `RecordCleaner` then `FeatureBuilder`.

    Its input is a raw record (the landing columns minus the target); its output the columns the
    imputation/encoding/scaling transformer and the estimator see.
    """
    from core.data.features import FeatureBuilder

    pre = cfg.preprocessing
    cleaner = RecordCleaner(
        drop=list(pre.drop_columns),
        cast=dict(pre.cast),
        clip=None if pre.clip is None else pre.clip.model_dump(),
        datetimes=[cfg.time_column] if cfg.time_column else [],
        keep=[cfg.target],
    )
    features = FeatureBuilder(cfg.features.model_dump())
    return Pipeline([("clean", cleaner), ("features", features)])


def as_object(X: pd.DataFrame) -> np.ndarray:  # noqa: N803 - sklearn naming
    """Categoricals as an object array with NaN for every kind of missing (pd.NA, None).

    Training data carries pandas `string` columns, served JSON records plain `str`/`None`;
    both become the same array so the imputer and encoder see one representation.
    """
    arr = pd.DataFrame(X).astype(object).to_numpy()
    arr[pd.isna(arr)] = np.nan
    return arr


_SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}


def build_transformer(
    numeric: list[str], categorical: list[str], pre: PreprocessConfig
) -> ColumnTransformer:
    """Unfitted serving-time transformer: impute + scale numerics, impute + encode categoricals."""
    num_steps: list = [
        ("impute", SimpleImputer(strategy="median" if pre.impute_numeric == "median" else "mean"))
    ]
    if pre.scaling != "none":
        num_steps.append(("scale", _SCALERS[pre.scaling]()))
    if pre.encoding == "onehot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=pre.max_categories,
            sparse_output=False,
        )
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    cat_steps = [
        ("as_object", FunctionTransformer(as_object, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("encode", encoder),
    ]
    return ColumnTransformer(
        [("num", Pipeline(num_steps), numeric), ("cat", Pipeline(cat_steps), categorical)],
        remainder="drop",
        verbose_feature_names_out=False,
    )
