"""The Evidently HTML reports of a checked window (evidently is imported only here).

`write_report`: data drift. The reference side is the profile's row sample; each column uses the
method and threshold our check chose, so the report and the check agree on what was tested
(values can differ slightly when the reference is larger than its sample).

`write_performance_report`: model quality once labels arrived, Evidently's classification or
regression preset on the window's labelled predictions against the model on its reference rows
(the sample keeps the holdout's target, prediction and probability).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from core.monitoring.drift import DriftResult
from core.monitoring.reference import PREDICTION, PROBABILITY, ReferenceProfile, canonical


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


def _label(value) -> str:
    """A class label as text that matches across sources (`True`, `1` and `1.0` are `"1"`)."""
    return str(int(value)) if isinstance(value, bool) else canonical(value)


def _labelled(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    if target not in frame or PREDICTION not in frame:
        return frame.iloc[0:0]
    return frame[frame[target].notna() & frame[PREDICTION].notna()]


def _outcome(frame: pd.DataFrame, target: str, task: str, probas: bool) -> pd.DataFrame:
    if task == "regression":
        return pd.DataFrame(
            {
                target: pd.to_numeric(frame[target], errors="coerce").astype(float),
                PREDICTION: pd.to_numeric(frame[PREDICTION], errors="coerce").astype(float),
            }
        )
    out = {c: frame[c].map(_label).astype(object) for c in (target, PREDICTION)}
    if probas:
        out[PROBABILITY] = pd.to_numeric(frame[PROBABILITY], errors="coerce").astype(float)
    return pd.DataFrame(out)


def _class_order(labels: set[str]) -> list[str]:
    """Labels as sklearn orders `classes_` (numbers by value): the last is the positive one."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def write_performance_report(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    target: str,
    task: str,
    out: Path,
    title: str = "performance report",
) -> Path | None:
    """Render Evidently's classification or regression report of the labelled rows.

    Args:
        profile: The reference profile (its sample holds the model's reference predictions).
        current: The checked rows; only those with an actual and a prediction are used.
        target: The target column (the joined actuals).
        task: `classification` or `regression`.
        out: Where to write the HTML (folders are created).
        title: Shown as the report name.

    Returns:
        The path, or None when the window has no labelled prediction yet.
    """
    from evidently import (
        BinaryClassification,
        DataDefinition,
        Dataset,
        MulticlassClassification,
        Regression,
        Report,
    )
    from evidently.presets import ClassificationPreset, RegressionPreset

    cur = _labelled(current, target)
    if cur.empty:
        return None
    ref = _labelled(profile.sample_frame(), target)
    frames = [cur] + ([ref] if not ref.empty else [])
    if task == "regression":
        definition = DataDefinition(
            regression=[Regression(target=target, prediction=PREDICTION)],
            numerical_columns=[target, PREDICTION],
        )
        preset = RegressionPreset()
        probas = False
    else:
        labels = {_label(v) for f in frames for c in (target, PREDICTION) for v in f[c]}
        probas = len(labels) == 2 and all(
            PROBABILITY in f and f[PROBABILITY].notna().all() for f in frames
        )
        if probas:
            spec = BinaryClassification(
                target=target,
                prediction_labels=PREDICTION,
                prediction_probas=PROBABILITY,
                pos_label=_class_order(labels)[-1],
            )
        else:
            spec = MulticlassClassification(target=target, prediction_labels=PREDICTION)
        definition = DataDefinition(
            classification=[spec],
            categorical_columns=[target, PREDICTION],
            numerical_columns=[PROBABILITY] if probas else [],
        )
        preset = ClassificationPreset()
    datasets = [
        Dataset.from_pandas(_outcome(f, target, task, probas), data_definition=definition)
        for f in frames
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([preset], metadata={"window": title}).run(*datasets)
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out))
    return out
