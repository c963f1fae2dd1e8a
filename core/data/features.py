"""Feature engineering from config, as a scikit-learn transformer.

`FeatureBuilder` is the second step of every registered model (after `RecordCleaner`, see
`core.data.preprocess.model_front`): a served raw record gets its date parts, interactions and
bins inside the model, exactly as the training rows did. The data pipeline runs the same steps
on each batch to validate the `features` stage and writes their output to `data/features`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from core.config import FeaturesConfig

_OPS = {
    "multiply": np.multiply,
    "divide": np.divide,
    "add": np.add,
    "subtract": np.subtract,
}


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Add date parts, interactions and bins; drop configured columns. Stateless.

    Args:
        config: the `features` section as a plain dict (kept a dict so the estimator clones
            and pickles without the config classes).
    """

    def __init__(self, config: dict | None = None) -> None:
        self.config = config

    def fit(self, X: pd.DataFrame, y=None) -> FeatureBuilder:  # noqa: N803 - sklearn naming
        """Nothing to learn; records the input columns."""
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 - sklearn naming
        """Return a new frame with the engineered columns."""
        return build_features(X, FeaturesConfig.model_validate(self.config or {}))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names after transformation (needs a fitted builder)."""
        sample = pd.DataFrame(columns=list(self.feature_names_in_))
        return np.asarray(list(self.transform(sample).columns), dtype=object)


def _as_datetime(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    return pd.to_datetime(series, errors="coerce", utc=True, format="mixed")


def build_features(df: pd.DataFrame, cfg: FeaturesConfig) -> pd.DataFrame:
    """Engineer features on a copy of `df`; a missing source column raises KeyError naming it."""
    out = df.copy()
    for spec in cfg.date_parts:
        stamp = _as_datetime(out[spec.column]).dt
        for part in spec.parts:
            values = stamp.dayofweek >= 5 if part == "is_weekend" else getattr(stamp, part)
            out[spec.output(part)] = values.astype("float64")
    for spec in cfg.interactions:
        a, b = spec.columns
        left = pd.to_numeric(out[a], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        right = pd.to_numeric(out[b], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = _OPS[spec.op](left, right)
        out[spec.output] = np.where(np.isfinite(values), values, np.nan)
    for spec in cfg.bins:
        values = pd.to_numeric(out[spec.column], errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        binned = np.digitize(values, np.asarray(spec.edges, dtype="float64")).astype("float64")
        out[spec.output] = np.where(np.isnan(values), np.nan, binned)
    return out.drop(columns=[c for c in cfg.drop if c in out.columns])
