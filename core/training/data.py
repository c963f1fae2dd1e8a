"""Load a data version and split it into train, validation and test.

By time when the config names a time column (the holdout is the latest period), stratified
otherwise.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from core.config import WorkbenchConfig
from core.data import versioning
from core.data.versioning import DataVersion
from core.errors import WorkbenchError
from core.workspace import Workspace


class DataVersionNotFound(WorkbenchError):
    """The requested data version does not exist (or there is none yet)."""


@dataclass
class Split:
    """Train / validation / test frames of one data version."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_val: pd.DataFrame
    y_val: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    version: DataVersion
    time_ordered: bool

    @property
    def feature_names(self) -> list[str]:
        return list(self.X_train.columns)


def find_version(ws: Workspace, ref: str | None = None) -> DataVersion:
    """The data version named by id, commit prefix or md5 prefix; the latest when `ref` is None."""
    versions = versioning.list_versions(ws)
    if not versions:
        raise DataVersionNotFound("no data version yet: run `workbench data run` first")
    if ref is None:
        return versions[0]
    for v in versions:
        if ref in (v.id, v.commit) or v.commit.startswith(ref) or v.md5.startswith(ref):
            return v
    known = ", ".join(v.id for v in versions[:5])
    raise DataVersionNotFound(f"data version {ref!r} not found (latest: {known})")


def load_frame(ws: Workspace, version: DataVersion) -> pd.DataFrame:
    """The cleaned (processed) table of a data version: raw values after batch-level cleaning.

    Models train on it because they take raw records: their own first steps clean and engineer
    features (`core.data.preprocess.model_front`). Read from the workspace when it is current.
    """
    current = versioning.current_meta(ws)
    if current.get("md5") == version.md5 and ws.processed_file.exists():
        return pd.read_parquet(ws.processed_file)
    return pd.read_parquet(io.BytesIO(versioning.read_version_file(ws, version, "processed")))


def feature_columns(df: pd.DataFrame, cfg: WorkbenchConfig) -> list[str]:
    """Model inputs: every raw column but the target (the time column included)."""
    return [c for c in df.columns if c != cfg.target]


def split_frame(df: pd.DataFrame, cfg: WorkbenchConfig, version: DataVersion) -> Split:
    """Split by time (latest rows held out) or stratified/random with the configured shares."""
    tc = cfg.training
    if cfg.target not in df.columns:
        raise WorkbenchError(f"target column '{cfg.target}' is not in data version {version.id}")
    df = _naive_utc(df[df[cfg.target].notna()])
    time_ordered = bool(cfg.time_column and cfg.time_column in df.columns)
    if time_ordered:
        df = df.sort_values(cfg.time_column, kind="stable")
        n = len(df)
        n_test = max(int(n * tc.holdout), 1)
        n_val = max(int((n - n_test) * tc.validation), 1)
        train, val, test = (
            df.iloc[: n - n_test - n_val],
            df.iloc[n - n_test - n_val : n - n_test],
            df.iloc[n - n_test :],
        )
    else:
        strat = df[cfg.target] if cfg.task == "classification" else None
        rest, test = train_test_split(
            df, test_size=tc.holdout, random_state=tc.seed, stratify=strat
        )
        strat = rest[cfg.target] if cfg.task == "classification" else None
        train, val = train_test_split(
            rest, test_size=tc.validation, random_state=tc.seed, stratify=strat
        )
    if min(len(train), len(val), len(test)) < 5:
        raise WorkbenchError(f"data version {version.id} has too few rows ({len(df)}) to split")
    cols = feature_columns(df, cfg)
    return Split(
        train[cols],
        train[cfg.target],
        val[cols],
        val[cfg.target],
        test[cols],
        test[cfg.target],
        version,
        time_ordered,
    )


def _naive_utc(df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as naive UTC: MLflow's `datetime` type has no zone (naive is read as UTC)."""
    zoned = [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]
    if not zoned:
        return df
    return df.assign(**{c: df[c].dt.tz_convert("UTC").dt.tz_localize(None) for c in zoned})


def load_split(ws: Workspace, ref: str | None = None) -> Split:
    """Load a data version (default latest) and split it as configured."""
    version = find_version(ws, ref)
    return split_frame(load_frame(ws, version), ws.config, version)
