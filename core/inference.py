"""Predict without pandas: a fitted preprocessing + model Pipeline replayed on numpy arrays.

Served models are scikit-learn Pipelines `[ColumnTransformer(numeric | categorical), estimator]`
fitted on DataFrames. Building a DataFrame and running the ColumnTransformer costs milliseconds
per call whatever the size, far more than the model itself on one record. `compile_model`
replays the same fitted transformation on arrays:

- numeric parts made of `SimpleImputer`, `StandardScaler`, `MinMaxScaler`, `RobustScaler` or
  `passthrough` are replayed with the numpy operations scikit-learn itself applies, so the
  values are bit-identical;
- categorical parts (a sub-pipeline ending in an encoder with `categories_`) become one lookup
  table per input column, filled by running the fitted sub-pipeline on every known category, a
  missing value and an unknown one: imputation, infrequent categories and unknown handling are
  the encoder's own;
- LightGBM estimators are called through their booster; other estimators get the array with
  scikit-learn's input validation switched off (the compiled steps already produce clean
  float64 arrays).

Anything else makes `compile_model` return None and the caller keeps the pandas path. Every
compiled model is checked against its pipeline on a random probe set before it is used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

NUMERIC_TYPES = frozenset({"long", "integer", "double", "float", "boolean"})
_UNKNOWN = "\x00unknown-category\x00"  # a category no encoder has seen
_PROBE_ROWS = 64

Rows = Sequence[dict] | Sequence[Sequence]


class NotCompilable(Exception):
    """The pipeline has a step the array path does not replay exactly."""


@dataclass(frozen=True)
class _Numeric:
    """A numeric part: columns in, the same number of columns out, exact numpy steps."""

    columns: list[str]
    steps: list[Callable[[np.ndarray], np.ndarray]]

    def apply(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - array naming
        for step in self.steps:
            X = step(X)
        return X


@dataclass(frozen=True)
class _Categorical:
    """A categorical part: per input column, a lookup of its values to its output slots."""

    columns: list[str]
    width: int
    constant: np.ndarray  # outputs no column changes
    lookups: list[dict]  # value -> row of `tables[i]`
    missing: list[int]  # row for a missing value
    unknown: list[int]  # row for an unseen value
    slots: list[np.ndarray]  # output positions owned by column i
    tables: list[np.ndarray]  # (values, len(slots[i]))

    def apply(self, values: list[list]) -> np.ndarray:
        """`values[i]` is the list of column i's values over the rows."""
        n = len(values[0]) if values else 0
        out = np.tile(self.constant, (n, 1))
        for i, column in enumerate(values):
            lookup, missing, unknown = self.lookups[i], self.missing[i], self.unknown[i]
            codes = [missing if v is None else lookup.get(v, unknown) for v in column]
            out[:, self.slots[i]] = self.tables[i][codes]
        return out


def _numeric_steps(part, columns: list[str]) -> list[Callable[[np.ndarray], np.ndarray]]:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    if isinstance(part, str) and part == "passthrough":
        return []
    steps = [s for _, s in part.steps] if isinstance(part, Pipeline) else [part]
    out: list[Callable[[np.ndarray], np.ndarray]] = []
    for step in steps:
        if step == "passthrough" or step is None:
            continue
        if isinstance(step, SimpleImputer):
            stats = np.asarray(step.statistics_, dtype="float64")
            if step.add_indicator or not _is_nan(step.missing_values) or np.isnan(stats).any():
                raise NotCompilable(f"SimpleImputer settings on {columns}")
            out.append(lambda X, s=stats: np.where(np.isnan(X), s, X))
        elif isinstance(step, StandardScaler):
            mean = step.mean_ if step.with_mean else None
            scale = step.scale_ if step.with_std else None
            out.append(lambda X, m=mean, s=scale: _center_scale(X, m, s))
        elif isinstance(step, RobustScaler):
            center = step.center_ if step.with_centering else None
            scale = step.scale_ if step.with_scaling else None
            out.append(lambda X, m=center, s=scale: _center_scale(X, m, s))
        elif isinstance(step, MinMaxScaler) and not step.clip:
            out.append(lambda X, s=step.scale_, m=step.min_: X * s + m)
        else:
            raise NotCompilable(f"{type(step).__name__} on {columns}")
    return out


def _center_scale(X: np.ndarray, center, scale) -> np.ndarray:  # noqa: N803 - array naming
    if center is not None:
        X = X - center
    if scale is not None:
        X = X / scale
    return X


def _is_nan(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _categorical(part, columns: list[str]) -> _Categorical:
    """Tabulate a fitted categorical sub-pipeline column by column."""
    encoder = part.steps[-1][1] if hasattr(part, "steps") else part
    categories = getattr(encoder, "categories_", None)
    if categories is None or len(categories) != len(columns):
        raise NotCompilable(f"no encoder with categories_ on {columns}")
    values = [[*list(c), None, _UNKNOWN] for c in categories]
    base = {c: values[i][0] for i, c in enumerate(columns)}
    rows = [base]
    for i, column in enumerate(columns):
        rows += [base | {column: v} for v in values[i]]
    out = part.transform(pd.DataFrame(rows, columns=columns).astype(object))
    if not isinstance(out, np.ndarray):
        raise NotCompilable(f"sparse output on {columns}")
    out = out.astype("float64")
    constant, start = out[0], 1
    owned = np.zeros(out.shape[1], dtype=bool)
    lookups, missing, unknown, slots, tables = [], [], [], [], []
    for column_values in values:
        block = out[start : start + len(column_values)]
        start += len(column_values)
        slot = np.flatnonzero((block != constant).any(axis=0))
        if owned[slot].any():
            raise NotCompilable(f"outputs of {columns} depend on more than one column")
        owned[slot] = True
        slots.append(slot)
        tables.append(block[:, slot])
        lookups.append({v: j for j, v in enumerate(column_values[:-2])})
        missing.append(len(column_values) - 2)
        unknown.append(len(column_values) - 1)
    return _Categorical(columns, out.shape[1], constant, lookups, missing, unknown, slots, tables)


def _estimator(est) -> tuple[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]], bool]:
    """(predict returning labels/values and probabilities, is_classifier)."""
    from sklearn.base import is_classifier

    classifier = is_classifier(est)
    try:
        from lightgbm import LGBMModel
    except ImportError:  # pragma: no cover - lightgbm is a core dependency
        LGBMModel = ()  # noqa: N806 - a type placeholder
    if isinstance(est, LGBMModel) and not callable(est.objective_):
        booster = est.booster_
        if not classifier:
            return (lambda X: (booster.predict(X, num_threads=1), None)), False
        classes = np.asarray(est.classes_)

        def lgbm(X: np.ndarray):  # noqa: N803 - array naming
            p = booster.predict(X, num_threads=1)
            proba = np.vstack((1.0 - p, p)).T if p.ndim == 1 else p
            return classes[np.argmax(proba, axis=1)], proba

        return lgbm, True

    from sklearn import config_context

    def generic(X: np.ndarray):  # noqa: N803 - array naming
        with config_context(assume_finite=True, skip_parameter_validation=True):
            proba = est.predict_proba(X) if classifier and hasattr(est, "predict_proba") else None
            return est.predict(X), proba

    return generic, classifier


@dataclass(frozen=True)
class CompiledModel:
    """A fitted `[ColumnTransformer, estimator]` pipeline replayed on arrays.

    Use `predict_records` for a list of mappings, `predict_rows` for rows in `columns` order.
    Both return (predictions, probabilities or None) as numpy arrays.
    """

    fields: list[tuple[str, str]]
    parts: list[_Numeric | _Categorical]
    estimator: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
    classifier: bool

    def predict_records(self, records: Sequence[dict]):
        """Predict mappings of input field to value (all fields present)."""
        return self._predict(_getter, records)

    def predict_rows(self, columns: Sequence[str], rows: Sequence[Sequence]):
        """Predict rows given as lists of values in `columns` order."""
        index = {c: i for i, c in enumerate(columns)}
        return self._predict(lambda cols: _getter([index[c] for c in cols]), rows)

    def transform_records(self, records: Sequence[dict]) -> np.ndarray:
        """The estimator's input matrix for mappings (used to verify the compilation)."""
        return self._transform(_getter, records)

    def _transform(self, getter: Callable[[list], Callable], rows: Rows) -> np.ndarray:
        blocks = []
        for part in self.parts:
            get = getter(part.columns)
            if isinstance(part, _Numeric):
                blocks.append(part.apply(np.array([get(r) for r in rows], dtype="float64")))
            else:
                picked = [get(r) for r in rows]
                blocks.append(part.apply([list(c) for c in zip(*picked, strict=True)]))
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]

    def _predict(self, getter: Callable[[list], Callable], rows: Rows):
        return self.estimator(self._transform(getter, rows))


def _getter(keys: list) -> Callable:
    """An itemgetter that always returns a tuple, even for one key."""
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


def compile_model(pipeline, fields: list[tuple[str, str]]) -> CompiledModel | None:
    """Compile a fitted pipeline for the array path, or None when it cannot be replayed exactly.

    Args:
        pipeline: A fitted sklearn Pipeline `[ColumnTransformer, estimator]`.
        fields: (column, MLflow type) of the model signature, in signature order.

    Returns:
        The compiled model, verified against `pipeline` on random probe records; None (with the
        reason logged) when a step is not supported or the check fails.
    """
    try:
        compiled = _compile(pipeline, fields)
        _verify(compiled, pipeline, fields)
    except NotCompilable as exc:
        log.info("array path unavailable, serving through pandas: %s", exc)
        return None
    return compiled


def _compile(pipeline, fields: list[tuple[str, str]]) -> CompiledModel:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise NotCompilable("not a [preprocess, model] Pipeline")
    transformer, est = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(transformer, ColumnTransformer) or transformer.sparse_output_:
        raise NotCompilable("the preprocessing step is not a dense ColumnTransformer")
    kinds = dict(fields)
    parts: list[_Numeric | _Categorical] = []
    for name, part, columns in transformer.transformers_:
        if isinstance(part, str) and part == "drop" or len(columns) == 0:
            continue
        if name == "remainder" and part != "drop":
            raise NotCompilable("remainder columns are passed through")
        if not all(isinstance(c, str) and c in kinds for c in columns):
            raise NotCompilable(f"columns {columns} are not all signature fields")
        numeric = [kinds[c] in NUMERIC_TYPES for c in columns]
        if all(numeric):
            parts.append(_Numeric(list(columns), _numeric_steps(part, list(columns))))
        elif not any(numeric):
            parts.append(_categorical(part, list(columns)))
        else:
            raise NotCompilable(f"part {name!r} mixes numeric and string columns")
    if not parts:
        raise NotCompilable("no input columns")
    predict, classifier = _estimator(est)
    return CompiledModel(list(fields), parts, predict, classifier)


def probe_records(compiled: CompiledModel, n: int = _PROBE_ROWS, seed: int = 0) -> list[dict]:
    """Random records over every field: known, missing and unknown categories, wide numbers."""
    rng = np.random.default_rng(seed)
    records: list[dict] = [{} for _ in range(n)]
    for part in compiled.parts:
        for i, column in enumerate(part.columns):
            if isinstance(part, _Numeric):
                values = rng.normal(0, 1000, n).round(3).tolist()
                kind = dict(compiled.fields)[column]
                if kind in {"long", "integer"}:
                    values = [int(v) for v in values]
                values = [None if rng.random() < 0.1 else v for v in values]
            else:
                known = list(part.lookups[i])
                pool = [*known, None, _UNKNOWN + "x"]
                values = [pool[j] for j in rng.integers(0, len(pool), n)]
            for record, value in zip(records, values, strict=True):
                record[column] = value
    return records


def same_predictions(expected: np.ndarray, got: np.ndarray, classifier: bool) -> bool:
    """Whether predictions agree: labels exactly, regression values up to summation order.

    A forest run on several threads adds its trees in a different order on every call.
    """
    if classifier:
        return np.array_equal(expected, got)
    return np.allclose(expected, got, rtol=1e-9, atol=1e-12)


def _verify(compiled: CompiledModel, pipeline, fields: list[tuple[str, str]]) -> None:
    """The compiled path must reproduce the pipeline exactly on random probe records."""
    records = probe_records(compiled)
    frame = pd.DataFrame.from_records(records, columns=[c for c, _ in fields])
    expected = pipeline.steps[0][1].transform(frame)
    got = compiled.transform_records(records)
    if expected.shape != got.shape or not np.array_equal(expected, got, equal_nan=True):
        raise NotCompilable("compiled preprocessing differs from the pipeline on probe records")
    preds, proba = compiled.estimator(got)
    if not same_predictions(np.asarray(pipeline.predict(frame)), preds, compiled.classifier):
        raise NotCompilable("compiled predictions differ from the pipeline on probe records")
    if proba is not None and not np.allclose(pipeline.predict_proba(frame), proba, atol=1e-12):
        raise NotCompilable("compiled probabilities differ from the pipeline on probe records")
