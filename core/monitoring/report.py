"""The full Evidently HTML report of a checked window (evidently is imported only here).

The reference side is the profile's row sample; each column uses the method and threshold our
check chose, so the report and the check agree on what was tested (values can differ slightly
when the reference is larger than its sample).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from core.monitoring.drift import DriftResult
from core.monitoring.reference import ReferenceProfile, canonical


def _prepare(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    out = {}
    for name, kind in kinds.items():
        col = frame[name]
        if kind == "numeric":
            out[name] = pd.to_numeric(col, errors="coerce").astype(float)
        else:
            out[name] = col.map(lambda v: None if pd.isna(v) else canonical(v)).astype(object)
    return pd.DataFrame(out)


def _checked(profile: ReferenceProfile, result: DriftResult, current, reference) -> dict:
    """Column → (kind, method, threshold) of every checked column present in both frames."""
    chosen = {}
    verdicts = [*result.columns.values(), *result.prediction.values()]
    if result.target is not None:
        verdicts.append(result.target)
    for v in verdicts:
        if v.checked and v.column in current and v.column in reference:
            chosen[v.column] = (v.kind, v.method, v.threshold)
    return chosen


def write_report(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    result: DriftResult,
    out: Path,
    title: str = "drift report",
) -> Path:
    """Render Evidently's `DataDriftPreset` report of `current` against the reference sample.

    Args:
        profile: The reference profile (its sample is the report's reference data).
        current: The checked rows.
        result: Our check of these rows (methods and thresholds per column).
        out: Where to write the HTML (folders are created).
        title: Shown as the report name.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = profile.sample_frame()
    chosen = _checked(profile, result, current, reference)
    if not chosen:
        raise ValueError("no checked column is present in both the reference sample and the data")
    # Evidently runs chi-square and Z only on categorical columns (its default choice still
    # picks them for numeric columns with few values): declare those columns categorical.
    kinds = {
        name: "categorical" if method in ("chisquare", "z") else kind
        for name, (kind, method, _) in chosen.items()
    }
    definition = DataDefinition(
        numerical_columns=[n for n, k in kinds.items() if k == "numeric"],
        categorical_columns=[n for n, k in kinds.items() if k == "categorical"],
    )
    preset = DataDriftPreset(
        columns=list(chosen),
        drift_share=result.drift_share,
        per_column_method={n: m for n, (_, m, _) in chosen.items()},
        per_column_threshold={n: t for n, (_, _, t) in chosen.items()},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([preset], metadata={"window": title}).run(
            Dataset.from_pandas(_prepare(current, kinds), data_definition=definition),
            Dataset.from_pandas(_prepare(reference, kinds), data_definition=definition),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out))
    return out
