"""Batch cleaning for the data pipeline and the serving-time transformer for model pipelines.

`clean_batch` runs once per batch (dedupe, cast, impute, clip). `build_transformer` returns the
part that must also run at prediction time (impute, encode, scale) as an unfitted scikit-learn
transformer; the training pipeline puts it inside each candidate's Pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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

from core.config import DType, PreprocessConfig, WorkbenchConfig


def cast_column(series: pd.Series, dtype: DType) -> pd.Series:
    """Cast one column to a workbench dtype kind; unparsable values become null."""
    if dtype in ("numeric", "float"):
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if dtype == "integer":
        return pd.to_numeric(series, errors="coerce").round().astype("Int64")
    if dtype == "datetime":
        return pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
    if dtype == "bool":
        mapped = series.map(
            lambda v: {"true": True, "false": False, "1": True, "0": False}.get(str(v).lower())
        )
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
    """Lower and upper clipping fences by IQR or z-score."""
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    if method == "iqr":
        q1, q3 = np.nanpercentile(arr, [25, 75])
        spread = q3 - q1
        return q1 - threshold * spread, q3 + threshold * spread
    mean, std = np.nanmean(arr), np.nanstd(arr)
    return mean - threshold * std, mean + threshold * std


def clean_batch(df: pd.DataFrame, cfg: WorkbenchConfig) -> pd.DataFrame:
    """Drop, cast, dedupe, impute and clip one batch; returns a new frame."""
    pre = cfg.preprocessing
    out = df.drop(columns=[c for c in pre.drop_columns if c in df.columns]).copy()
    for col, kind in pre.cast.items():
        if col in out.columns:
            out[col] = cast_column(out[col], kind)
    if cfg.time_column and cfg.time_column in out.columns and cfg.time_column not in pre.cast:
        out[cfg.time_column] = cast_column(out[cfg.time_column], "datetime")
    if pre.drop_missing_target and cfg.target in out.columns:
        out = out[out[cfg.target].notna()]
    if pre.dedupe:
        out = out.drop_duplicates()
    exclude = {cfg.target} | ({cfg.time_column} if cfg.time_column else set())
    numeric, categorical = split_columns(out, exclude)
    _impute(out, numeric, categorical, pre)
    if pre.clip is not None:
        for col in pre.clip.columns or numeric:
            if col in out.columns and out[col].notna().any():
                low, high = clip_fences(out[col], pre.clip.method, pre.clip.threshold)
                out[col] = out[col].clip(low, high)
    return out.reset_index(drop=True)


def _impute(out: pd.DataFrame, numeric: list, categorical: list, pre: PreprocessConfig) -> None:
    if pre.impute_numeric != "none":
        for col in numeric:
            if out[col].isna().any() and out[col].notna().any():
                fill = out[col].median() if pre.impute_numeric == "median" else out[col].mean()
                if pd.api.types.is_integer_dtype(out[col]):
                    fill = round(fill)
                out[col] = out[col].fillna(fill)
    if pre.impute_categorical != "none":
        for col in categorical:
            if out[col].isna().any():
                modes = out[col].mode(dropna=True)
                fill = (
                    "missing" if pre.impute_categorical == "constant" or modes.empty else modes[0]
                )
                out[col] = out[col].fillna(fill)


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
