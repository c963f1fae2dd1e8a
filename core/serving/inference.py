"""Predict without pandas: a fitted model Pipeline replayed on numpy arrays.

A registered model is a scikit-learn Pipeline from a raw record to a prediction (README,
"The model boundary"): `RecordCleaner` (casts, dropped columns, clipping with fitted fences),
`FeatureBuilder` (date parts, interactions, bins), a `ColumnTransformer` (numeric | categorical)
and the estimator. Older models are `[ColumnTransformer, estimator]` on engineered records.
Building a DataFrame and running those steps costs milliseconds per call whatever the size, far
more than the model itself on one record. `compile_model` replays the same fitted steps on
arrays and lists:

- `RecordCleaner`: numeric fields become float64 (JSON numbers, None as NaN) and are clipped
  like `Series.clip` (NaN passes); string fields stay as they are; boolean fields get the
  cleaner's own mapping; dropped fields are never read;
- `FeatureBuilder`: timestamps are parsed as `pd.to_datetime(utc=True, format="mixed")` does
  (`stamp_parts`: plain ISO-8601 strings through `datetime.fromisoformat`, anything else through
  pandas itself, once per distinct value); date parts, interactions and bins are the numpy
  operations the builder applies; only the columns the `ColumnTransformer` uses are computed.
  Up to `_FEW_ROWS` rows take the same IEEE operations on Python floats (numpy's fixed cost per
  call would dominate a single record). A larger batch is read column by column
  (`transform_columns`, fed the columns the API's validation built): one numpy conversion for
  all numeric fields, each timestamp column parsed once per distinct value, each string column
  coded by one dict lookup per value;
- numeric parts made of `SimpleImputer`, `StandardScaler`, `MinMaxScaler`, `RobustScaler` or
  `passthrough` are replayed with the numpy operations scikit-learn itself applies, so the
  values are bit-identical;
- categorical parts (a sub-pipeline ending in an encoder with `categories_`) become one lookup
  table per input column, filled by running the fitted sub-pipeline on every known category, a
  missing value and an unknown one: imputation, infrequent categories and unknown handling are
  the encoder's own;
- LightGBM estimators are called through their booster, or through the trees compiled at
  registration (`core.serving.compiled`) once they agree with it; random forests and extra
  trees are summed tree by tree in the calling thread (scikit-learn's own sum, no joblib pool);
  other estimators get the array with scikit-learn's input validation switched off (the
  compiled steps already produce clean float64 arrays).

Anything else makes `compile_model` return None and the caller keeps the pandas path. Every
compiled model is checked against its pipeline on probe records before it is used, as one batch
and record by record: raw values of every field, with timestamps in several ISO-8601 forms and
offsets, numbers beyond the clip fences and on the bin edges, missing values, unseen categories.

Inputs are what the API validates: numbers (or None) for numeric fields, strings (or None) for
string fields, ISO-8601 strings (or None) for datetime fields, booleans (or None) for boolean
ones.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import logging
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter

import numpy as np
import pandas as pd

from core.config import BOOL_TEXT
from core.serving.compiled import BACKEND, CompiledTrees, lightgbm_estimator

log = logging.getLogger(__name__)

NUMERIC_TYPES = frozenset({"long", "integer", "double", "float", "boolean"})
_UNKNOWN = "\x00unknown-category\x00"  # a category no encoder has seen
_PROBE_ROWS = 96

Rows = Sequence[dict] | Sequence[Sequence]
Columns = Mapping[str, Sequence]
"""A batch as its columns: field name -> the values of every row (lists, tuples or arrays)."""


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
    coded: list[dict] = field(default_factory=list)  # `lookups[i]` with None -> `missing[i]`

    def apply(self, values: Sequence[Sequence]) -> np.ndarray:
        """`values[i]` is column i's values over the rows (a list, tuple or array)."""
        n = len(values[0]) if len(values) else 0
        out = np.tile(self.constant, (n, 1))
        for i, column in enumerate(values):
            unknown = self.unknown[i]
            if n <= _FEW_ROWS:  # plain Python: numpy's fixed cost per call would dominate
                get = self.coded[i].get
                codes = [get(v, unknown) for v in column]
                if unknown in codes:
                    pairs = zip(codes, column, strict=True)
                    codes = [self.missing[i] if _missing(v) else c for c, v in pairs]
                out[:, self.slots[i]] = self.tables[i][codes]
                continue
            # One C-level dict lookup per value (`map` over `dict.get`), None is `missing`.
            codes = np.fromiter(
                map(self.coded[i].get, column, repeat(unknown, n)), dtype=np.intp, count=n
            )
            if n and (codes == unknown).any():  # NaN or pd.NA (not from JSON) are missing
                for j in np.flatnonzero(codes == unknown).tolist():
                    if _missing(column[j]):
                        codes[j] = self.missing[i]
            out[:, self.slots[i]] = self.tables[i].take(codes, axis=0)
        return out


def _missing(value) -> bool:
    return value is pd.NA or value is pd.NaT or isinstance(value, float) and math.isnan(value)


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
    coded = [lookup | {None: m} for lookup, m in zip(lookups, missing, strict=True)]
    return _Categorical(
        columns, out.shape[1], constant, lookups, missing, unknown, slots, tables, coded
    )


def _estimator(est) -> tuple[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]], bool]:
    """(predict returning labels/values and probabilities, is_classifier)."""
    from sklearn.base import is_classifier

    classifier = is_classifier(est)
    if lightgbm_estimator(est):
        booster = est.booster_
        return _lightgbm(lambda X: booster.predict(X, num_threads=1), est, classifier), classifier
    forest = _forest(est, classifier)
    if forest is not None:
        return forest, classifier

    from sklearn import config_context

    def generic(X: np.ndarray):  # noqa: N803 - array naming
        with config_context(assume_finite=True, skip_parameter_validation=True):
            proba = est.predict_proba(X) if classifier and hasattr(est, "predict_proba") else None
            return est.predict(X), proba

    return generic, classifier


def _forest(est, classifier: bool):
    """A random forest or extra trees summed tree by tree in the calling thread, or None.

    What scikit-learn's `predict_proba` / `predict` compute (float32 inputs, the trees' outputs
    added in order, divided by their count; labels the classes at the argmax), without a
    joblib pool per call (a single record took 45-70 ms through it with `n_jobs=-1` and two
    passes, predict and predict_proba; 15 ms with one pass on one thread).
    """
    from sklearn.ensemble._forest import ForestClassifier, ForestRegressor

    if not isinstance(est, ForestClassifier | ForestRegressor) or est.n_outputs_ != 1:
        return None
    trees, count = list(est.estimators_), float(len(est.estimators_))
    if classifier:
        classes = np.asarray(est.classes_)

        def forest(X: np.ndarray):  # noqa: N803 - array naming
            X = np.ascontiguousarray(X, dtype=np.float32)
            proba = np.zeros((X.shape[0], len(classes)))
            for tree in trees:
                proba += tree.predict_proba(X, check_input=False)
            proba /= count
            return classes.take(np.argmax(proba, axis=1), axis=0), proba

        return forest

    def regression_forest(X: np.ndarray):  # noqa: N803 - array naming
        X = np.ascontiguousarray(X, dtype=np.float32)
        out = np.zeros(X.shape[0])
        for tree in trees:
            out += tree.predict(X, check_input=False)
        out /= count
        return out, None

    return regression_forest


def _lightgbm(raw: Callable[[np.ndarray], np.ndarray], est, classifier: bool):
    """A LightGBM model's predict from `raw` (what its booster's `predict` returns)."""
    if not classifier:
        return lambda X: (raw(X), None)
    classes = np.asarray(est.classes_)

    def lgbm(X: np.ndarray):  # noqa: N803 - array naming
        p = raw(X)
        proba = np.vstack((1.0 - p, p)).T if p.ndim == 1 else p
        return classes[np.argmax(proba, axis=1)], proba

    return lgbm


# --------------------------------------------------------------------------- timestamps
PARTS = ("year", "month", "day", "dayofweek", "hour", "dayofyear", "is_weekend")
"""The date parts `FeatureBuilder` knows, in the order `stamp_parts` returns them."""
_NAT = (np.nan,) * 6 + (0.0,)  # a missing timestamp: NaN parts, and not a weekend (NaN >= 5)
# The ISO-8601 forms pandas and `datetime.fromisoformat` read alike: a date, optionally a time
# to the minute, second or microsecond, optionally `Z` or a `+HH:MM` offset.
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_YEARS = range(1678, 2262)  # inside pandas' nanosecond bounds (1677-09-21 .. 2262-04-11)
_CLOCK = frozenset({"now", "today"})  # pandas reads these as the current time: never cached


def stamp_parts(value) -> tuple[float, ...]:
    """The date parts (`PARTS` order) of one raw timestamp, as `FeatureBuilder` computes them.

    Equal to `pd.to_datetime(values, utc=True, format="mixed", errors="coerce")` followed by
    `.dt.<part>` (a zone-less time is UTC, an offset is converted to UTC): plain ISO-8601
    strings are read by `datetime.fromisoformat`, every other value (other ISO forms, years
    outside pandas' range, non-strings) by pandas itself. Unparsable values give NaN parts
    (`is_weekend` 0.0, as pandas' `NaN >= 5`).
    """
    if value is None:
        return _NAT
    if isinstance(value, str) and value in _CLOCK:
        return _pandas_parts(value)
    try:
        return _cached_parts(value)
    except TypeError:  # unhashable
        return _pandas_parts(value)


@functools.lru_cache(maxsize=16384, typed=True)
def _cached_parts(value) -> tuple[float, ...]:
    """`stamp_parts` of a value whose parts do not depend on the clock, cached."""
    if isinstance(value, str) and _ISO.fullmatch(value):
        try:
            stamp = datetime.fromisoformat(value)
            stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        except (ValueError, OverflowError):  # hour 24, 30 February, year 1 east of UTC: pandas
            stamp = None
        if stamp is not None and stamp.year in _YEARS:
            return _parts(stamp)
    return _pandas_parts(value)


def _pandas_parts(value) -> tuple[float, ...]:
    stamp = pd.to_datetime(
        pd.Series([value], dtype=object), utc=True, format="mixed", errors="coerce"
    ).iloc[0]
    return _NAT if pd.isna(stamp) else _parts(stamp)


def _parts(stamp) -> tuple[float, ...]:
    weekday = stamp.weekday()
    return (
        float(stamp.year),
        float(stamp.month),
        float(stamp.day),
        float(weekday),
        float(stamp.hour),
        float(stamp.timetuple().tm_yday),
        1.0 if weekday >= 5 else 0.0,
    )


def _stamp_parts(values: Sequence) -> list[tuple[float, ...]]:
    """`stamp_parts` of each value."""
    cached, clock = _cached_parts, _CLOCK
    try:  # the common case inline: strings and None
        return [
            _NAT if v is None else _pandas_parts(v) if v in clock else cached(v) for v in values
        ]
    except TypeError:  # an unhashable value
        return [stamp_parts(v) for v in values]


def _stamp_columns(values: Sequence, pick: Callable) -> np.ndarray:
    """The picked date parts of each value, computed once per distinct value of the batch."""
    try:
        seen = dict.fromkeys(values)  # the distinct values, first seen first (in C)
        distinct = all(v is None or type(v) is str for v in seen)  # 1 == 1.0 == True: merged
    except TypeError:  # an unhashable value
        distinct = False
    if not distinct:
        parts = [pick(p) for p in _stamp_parts(values)]
        return np.array(parts, dtype="float64").reshape(len(values), -1)
    index = {v: i for i, v in enumerate(seen)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.intp, count=len(values))
    table = np.array([pick(p) for p in _stamp_parts(list(index))], dtype="float64")
    return table.reshape(len(index), -1).take(codes, axis=0)


# --------------------------------------------------------------------------- record front
def _as_bool(value):
    """`RecordCleaner`'s boolean cast of one value (True, False or None)."""
    if value is True or value is False:
        return value
    return BOOL_TEXT.get(str(value).lower())


def _floats(columns: list[str], data: Columns, n: int) -> np.ndarray:
    """Values that numpy cannot convert, the way `RecordCleaner` does (`pd.to_numeric`)."""
    frame = pd.DataFrame({c: list(data[c]) for c in columns}, columns=columns)
    return np.column_stack(
        [
            pd.to_numeric(frame[c], errors="coerce").to_numpy("float64", na_value=np.nan)
            for c in columns
        ]
    ).reshape(n, len(columns))


def _float_block(columns: list[str], data: Columns, n: int) -> np.ndarray:
    """(n, len(columns)) float64 of the named columns: one numpy conversion for all of them.

    JSON numbers and None (NaN) convert in C, column by column (twice as fast as one
    conversion of the list of columns); anything else is coerced as pandas does.
    """
    block = np.empty((len(columns), n), dtype="float64")
    try:
        for i, c in enumerate(columns):
            block[i] = np.array(data[c], dtype="float64")
    except (TypeError, ValueError):  # not a number
        return _floats(columns, data, n)
    return block.T


_FEW_ROWS = 6  # up to this many rows, plain Python beats numpy's per-call overhead
_NUMBERS = frozenset({int, float, type(None)})


@dataclass(frozen=True)
class _Front:
    """`RecordCleaner` + `FeatureBuilder` replayed on raw values.

    Every float column (raw numbers, date parts, interactions, bins) is one column of a work
    matrix, and the columns a later step overwrites get a column of their own, so each step
    reads exactly what it read in the pandas pipeline. Strings and booleans stay lists. A few
    rows are computed in plain Python floats (the same IEEE operations), more with numpy.
    """

    width: int  # columns of the work matrix
    floats: list[str]  # raw numeric fields: work columns 0 .. len(floats) - 1, clipped ones first
    lows: np.ndarray  # clip fences of work columns 0 .. len(lows) - 1
    highs: np.ndarray
    fences: list[tuple[int, float, float]]  # the same as (work column, low, high)
    objects: list[str]  # raw string / boolean fields read as values
    bools: list[bool]  # per `objects`: cast like the cleaner's `bool` kind
    stamps: list[tuple[str, Callable, slice | np.ndarray, list[int]]]  # field, picker, columns
    ops: list[_Interaction | _Bins]  # in step order
    picks: list[np.ndarray | list[int]]  # per transformer part: work columns / `objects` indices
    kinds: dict[str, str] = field(default_factory=dict)  # raw field -> how it is read
    specials: dict[str, list[float]] = field(default_factory=dict)  # values worth probing
    categories: dict[str, list] = field(default_factory=dict)  # known values of string fields

    def columns(self, getter: Callable[[list], Callable], rows: Rows):
        """(the float work matrix, one list of values per `objects` field) of rows."""
        if len(rows) <= _FEW_ROWS:
            work = self._few(getter, rows)
            if work is not None:
                objects = [[] for _ in self.objects]
                if self.objects:
                    picked = zip(*map(getter(self.objects), rows), strict=True)
                    objects = [list(c) for c in picked] or objects
                return work, self._cast(objects)
        return self.of_columns(_gather(getter, self.reads, rows), len(rows))

    @functools.cached_property
    def reads(self) -> list[str]:
        """The raw fields the front reads, each once."""
        return list(dict.fromkeys([*self.floats, *(s[0] for s in self.stamps), *self.objects]))

    def of_columns(self, data: Columns, n: int):
        """`columns` of a batch given as its columns (`n` rows): each is walked once."""
        work = np.empty((n, self.width), dtype="float64")
        k = len(self.floats)
        if k:
            work[:, :k] = _float_block(self.floats, data, n)
            if len(self.lows):  # `Series.clip`: NaN stays NaN, as in `maximum` / `minimum`
                clipped = work[:, : len(self.lows)]
                np.maximum(clipped, self.lows, out=clipped)
                np.minimum(clipped, self.highs, out=clipped)
        for name, pick, slots, _ in self.stamps:
            work[:, slots] = _stamp_columns(data[name], pick)
        if self.ops:
            with np.errstate(all="ignore"):
                for op in self.ops:
                    op.apply(work)
        return work, self._cast([data[name] for name in self.objects])

    def _cast(self, objects: list) -> list:
        """The `objects` columns with the boolean ones cast as the cleaner casts them."""
        for i, is_bool in enumerate(self.bools):
            if is_bool:
                objects[i] = [None if v is None else _as_bool(v) for v in objects[i]]
        return objects

    def _few(self, getter: Callable[[list], Callable], rows: Rows) -> np.ndarray | None:
        """The work matrix row by row in Python floats; None when a value is not a number."""
        get = getter(self.floats) if self.floats else None
        fences = self.fences
        stamps = [(getter([name]), pick, slots) for name, pick, _, slots in self.stamps]
        pad = [0.0] * (self.width - len(self.floats))
        out = []
        for r in rows:
            values = get(r) if get is not None else ()
            if not all(type(v) in _NUMBERS for v in values):
                return None
            row = [math.nan if v is None else float(v) for v in values]
            for j, low, high in fences:
                value = row[j]
                if value < low:
                    row[j] = low
                elif value > high:
                    row[j] = high
            row += pad
            for stamp_get, pick, slots in stamps:
                for s, value in zip(slots, pick(stamp_parts(stamp_get(r)[0])), strict=True):
                    row[s] = value
            for op in self.ops:
                op.apply_row(row)
            out.append(row)
        return np.array(out, dtype="float64").reshape(len(rows), self.width)


def _gather(getter: Callable[[list], Callable], names: list[str], rows: Rows) -> dict:
    """The named fields of rows as columns (tuples), one pass over the rows."""
    if not names or not rows:
        return {name: () for name in names}
    return dict(zip(names, zip(*map(getter(names), rows), strict=True), strict=True))


_PY_OPS = {
    np.multiply: operator.mul,
    np.divide: operator.truediv,
    np.add: operator.add,
    np.subtract: operator.sub,
}


@dataclass(frozen=True)
class _Interaction:
    """`FeatureBuilder`'s interaction of two work columns; non-finite results are missing."""

    op: Callable  # the numpy ufunc
    a: int
    b: int
    out: int

    def apply(self, work: np.ndarray) -> None:
        col = work[:, self.out]
        self.op(work[:, self.a], work[:, self.b], out=col)
        col[~np.isfinite(col)] = np.nan

    def apply_row(self, row: list[float]) -> None:
        try:  # Python floats: the same IEEE operation as numpy's
            value = _PY_OPS[self.op](row[self.a], row[self.b])
        except ZeroDivisionError:  # numpy: inf or NaN, made missing
            value = math.nan
        row[self.out] = value if math.isfinite(value) else math.nan


@dataclass(frozen=True)
class _Bins:
    """`FeatureBuilder`'s bins: `np.digitize` as numpy computes it; missing stays missing."""

    edges: np.ndarray  # ascending (reversed when the configured edges decrease)
    decreasing: bool
    src: int
    out: int
    bounds: tuple[float, ...] = ()  # `edges` as Python floats

    @classmethod
    def of(cls, edges: np.ndarray, src: int, out: int) -> _Bins:
        steps = np.diff(edges)
        if (steps >= 0).all():
            return cls(edges, False, src, out, tuple(edges.tolist()))
        if (steps <= 0).all():  # numpy searches decreasing edges reversed
            return cls(edges[::-1].copy(), True, src, out, tuple(edges[::-1].tolist()))
        raise NotCompilable(f"bin edges {edges.tolist()} are not monotonic")

    def apply(self, work: np.ndarray) -> None:
        values = work[:, self.src]
        found = np.searchsorted(self.edges, values, side="right")
        binned = (len(self.edges) - found if self.decreasing else found).astype("float64")
        binned[np.isnan(values)] = np.nan
        work[:, self.out] = binned

    def apply_row(self, row: list[float]) -> None:
        value = row[self.src]
        if value != value:  # NaN
            row[self.out] = math.nan
            return
        found = bisect.bisect_right(self.bounds, value)
        row[self.out] = float(len(self.bounds) - found if self.decreasing else found)


@dataclass(frozen=True)
class _Node:
    """A column of the front, before it is given a place: how it is computed from what."""

    kind: str  # float | string | bool | datetime | other
    op: str  # raw | part | interaction | bin
    deps: tuple[int, ...] = ()
    arg: object = None  # field name, PARTS position, numpy op or bin edges


def _graph(cleaner, builder, fields: list[tuple[str, str]]) -> tuple[list[_Node], dict]:
    """The columns the cleaner and the builder produce: nodes and the name -> node they end at."""
    from core.config import FeaturesConfig
    from core.data.features import _OPS

    nodes: list[_Node] = []

    def add(node: _Node) -> int:
        nodes.append(node)
        return len(nodes) - 1

    def numeric(name: str, what: str) -> int:
        if name not in env or nodes[env[name]].kind != "float":
            raise NotCompilable(f"{what}: column {name!r} is not a numeric column")
        return env[name]

    drop = set(cleaner.drop or ())
    env: dict[str, int] = {}
    for name, _ in fields:
        if name not in drop:
            env[name] = add(_Node(cleaner.kinds_.get(name, "other"), "raw", arg=name))
    cfg = FeaturesConfig.model_validate((builder.config if builder else None) or {})
    for spec in cfg.date_parts:
        source = env.get(spec.column)
        if source is None or nodes[source].kind not in {"datetime", "string"}:
            raise NotCompilable(f"date parts of {spec.column!r}: not a timestamp field")
        for part in spec.parts:
            env[spec.output(part)] = add(_Node("float", "part", (source,), PARTS.index(part)))
    for spec in cfg.interactions:
        a, b = spec.columns
        deps = (numeric(a, spec.output), numeric(b, spec.output))
        env[spec.output] = add(_Node("float", "interaction", deps, _OPS[spec.op]))
    for spec in cfg.bins:
        edges = np.asarray(spec.edges, dtype="float64")
        env[spec.output] = add(_Node("float", "bin", (numeric(spec.column, spec.output),), edges))
    for name in cfg.drop:
        env.pop(name, None)
    return nodes, env


def _front(cleaner, builder, transformer, fields) -> tuple[_Front, list]:
    """The compiled front and the transformer's parts (their columns named as it names them)."""
    nodes, env = _graph(cleaner, builder, fields)
    used: list[tuple[str, object, list[str], list[int]]] = []
    for name, part, columns in _used_parts(transformer):
        missing = [c for c in columns if c not in env]
        if missing:
            raise NotCompilable(f"columns {missing} are not produced from the record")
        used.append((name, part, list(columns), [env[c] for c in columns]))
    needed = _needed(nodes, [i for *_, ids in used for i in ids])
    raw = [i for i in needed if nodes[i].op == "raw" and nodes[i].kind == "float"]
    fences = {i: cleaner.fences_[nodes[i].arg] for i in raw if nodes[i].arg in cleaner.fences_}
    # work columns: the clipped raw numbers, the other raw numbers, then the computed columns
    order = [i for i in raw if i in fences] + [i for i in raw if i not in fences]
    order += [i for i in needed if nodes[i].kind == "float" and nodes[i].op != "raw"]
    slot = {i: j for j, i in enumerate(order)}
    taken = {i for *_, ids in used for i in ids}
    objects = [i for i in needed if i in taken and nodes[i].kind in {"string", "bool"}]
    stamps, ops = _steps(nodes, needed, slot)
    parts, picks, categories = _transformer_parts(nodes, used, slot, objects)
    kinds = {nodes[i].arg: nodes[i].kind for i in needed if nodes[i].op == "raw"}
    kinds |= {name: "timestamp" for name, *_ in stamps}
    front = _Front(
        width=len(order),
        floats=[nodes[i].arg for i in order[: len(raw)]],
        lows=np.asarray([low for low, _ in fences.values()], dtype="float64"),
        highs=np.asarray([high for _, high in fences.values()], dtype="float64"),
        fences=[(j, float(low), float(high)) for j, (low, high) in enumerate(fences.values())],
        objects=[nodes[i].arg for i in objects],
        bools=[nodes[i].kind == "bool" for i in objects],
        stamps=stamps,
        ops=ops,
        picks=picks,
        kinds=kinds,
        specials=_specials(nodes, needed, cleaner),
        categories=categories,
    )
    return front, parts


def _needed(nodes: list[_Node], roots: list[int]) -> list[int]:
    """The nodes `roots` are computed from (themselves included), in step order."""
    needed: set[int] = set()
    stack = list(roots)
    while stack:
        i = stack.pop()
        if i not in needed:
            needed.add(i)
            stack.extend(nodes[i].deps)
    return sorted(needed)


def _steps(nodes: list[_Node], needed: list[int], slot: dict[int, int]):
    """The date parts per timestamp field, and the interactions and bins in step order."""
    stamps: dict[int, list[tuple[int, int]]] = {}
    ops: list[_Interaction | _Bins] = []
    for i in needed:
        node = nodes[i]
        if node.op == "part":
            stamps.setdefault(node.deps[0], []).append((node.arg, slot[i]))
        elif node.op == "interaction":
            if node.arg not in _PY_OPS:
                raise NotCompilable(f"interaction {node.arg!r} is not replayed")
            ops.append(_Interaction(node.arg, slot[node.deps[0]], slot[node.deps[1]], slot[i]))
        elif node.op == "bin":
            ops.append(_Bins.of(node.arg, slot[node.deps[0]], slot[i]))
    return [(nodes[source].arg, *_placed(pairs)) for source, pairs in stamps.items()], ops


def _placed(pairs: list[tuple[int, int]]) -> tuple[Callable, slice | np.ndarray, list[int]]:
    """(picker of the PARTS positions, their work columns as a slice when contiguous, as a list)."""
    positions, slots = [p for p, _ in pairs], [s for _, s in pairs]
    pick = _getter(positions)
    if slots == list(range(slots[0], slots[0] + len(slots))):
        return pick, slice(slots[0], slots[0] + len(slots)), slots
    return pick, np.asarray(slots, dtype=np.intp), slots


def _transformer_parts(nodes: list[_Node], used: list, slot: dict[int, int], objects: list[int]):
    """The compiled transformer parts, where each reads its columns, known string values."""
    parts: list[_Numeric | _Categorical] = []
    picks: list[np.ndarray | list[int]] = []
    categories: dict[str, list] = {}
    for name, part, columns, ids in used:
        taken = {nodes[i].kind for i in ids}
        if taken == {"float"}:
            parts.append(_Numeric(columns, _numeric_steps(part, columns)))
            picks.append(np.asarray([slot[i] for i in ids], dtype=np.intp))
        elif taken <= {"string", "bool"} and all(nodes[i].op == "raw" for i in ids):
            cat = _categorical(part, columns)
            parts.append(cat)
            picks.append([objects.index(i) for i in ids])
            for i, lookup in zip(ids, cat.lookups, strict=True):
                categories[nodes[i].arg] = list(lookup)
        else:
            raise NotCompilable(f"part {name!r} takes {sorted(taken)} columns")
    if not parts:
        raise NotCompilable("no input columns")
    return parts, picks, categories


def _specials(nodes: list[_Node], needed: list[int], cleaner) -> dict[str, list[float]]:
    """Per raw numeric field, the values where its replay could go wrong: fences, bin edges."""
    out: dict[str, list[float]] = {}
    for i in needed:
        node = nodes[i]
        if node.op == "raw" and node.kind == "float":
            values = [0.0]
            for fence in cleaner.fences_.get(node.arg, ()):
                if np.isfinite(fence):
                    values += [fence, fence - 1.0, fence + 1.0, 2 * fence - 10.0, 2 * fence + 10.0]
            out.setdefault(node.arg, []).extend(values)
        elif node.op == "bin" and nodes[node.deps[0]].op == "raw":
            edges = [float(e) for e in node.arg]
            name = nodes[node.deps[0]].arg
            out.setdefault(name, []).extend(
                [v for e in edges for v in (e, np.nextafter(e, -np.inf), e + 0.5)]
            )
    return out


def _used_parts(transformer):
    """(name, fitted part, columns) of the transformer parts that take columns."""
    for name, part, columns in transformer.transformers_:
        if isinstance(part, str) and part == "drop" or len(columns) == 0:
            continue
        if name == "remainder" and part != "drop":
            raise NotCompilable("remainder columns are passed through")
        if not all(isinstance(c, str) for c in columns):
            raise NotCompilable(f"columns {columns} are not selected by name")
        yield name, part, columns


# --------------------------------------------------------------------------- compiled model
@dataclass(frozen=True)
class CompiledModel:
    """A fitted model pipeline replayed on arrays.

    Use `predict_records` for a list of mappings, `predict_rows` for rows in `columns` order,
    `predict_columns` for a batch as its columns (what the API's validation builds).
    Both return (predictions, probabilities or None) as numpy arrays. `front` is the replay of
    the record cleaning and feature steps (None for a `[ColumnTransformer, estimator]` model,
    whose parts read the record fields directly). `backend` says what runs the estimator:
    `lleaves` (compiled trees, `core.serving.compiled`), `lightgbm` (the booster) or `sklearn`
    (the estimator's own predict); `backend_reason` why compiled trees do not serve, if offered.
    """

    fields: list[tuple[str, str]]
    parts: list[_Numeric | _Categorical]
    estimator: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
    classifier: bool
    front: _Front | None = None
    backend: str = "sklearn"
    backend_reason: str | None = None

    def predict_records(self, records: Sequence[dict]):
        """Predict mappings of input field to value (all fields present)."""
        return self._predict(_getter, records)

    def predict_rows(self, columns: Sequence[str], rows: Sequence[Sequence]):
        """Predict rows given as lists of values in `columns` order."""
        index = {c: i for i, c in enumerate(columns)}
        return self._predict(lambda cols: _getter([index[c] for c in cols]), rows)

    def predict_columns(self, data: Columns, n: int):
        """Predict a batch given as its columns: field name -> the values of its `n` rows."""
        return self.estimator(self.transform_columns(data, n))

    def transform_records(self, records: Sequence[dict]) -> np.ndarray:
        """The estimator's input matrix for mappings (used to verify the compilation)."""
        return self._transform(_getter, records)

    def transform_rows(self, columns: Sequence[str], rows: Sequence[Sequence]) -> np.ndarray:
        """The estimator's input matrix for rows in `columns` order."""
        index = {c: i for i, c in enumerate(columns)}
        return self._transform(lambda cols: _getter([index[c] for c in cols]), rows)

    def transform_columns(self, data: Columns, n: int) -> np.ndarray:
        """The estimator's input matrix for a batch given as its columns (`n` rows).

        What the API's validation already built (`api.validation.Batch`): each column is
        converted once, with no pass over rows. Up to `_FEW_ROWS` rows take the row path.
        """
        if n <= _FEW_ROWS:
            names = list(data)
            rows = list(zip(*(data[c] for c in names), strict=True)) if names else []
            return self.transform_rows(names, rows)
        if self.front is not None:
            return self._assemble(*self.front.of_columns(data, n))
        return self._direct(data, n)

    def _transform(self, getter: Callable[[list], Callable], rows: Rows) -> np.ndarray:
        if self.front is not None:
            return self._assemble(*self.front.columns(getter, rows))
        names = list(dict.fromkeys(c for part in self.parts for c in part.columns))
        return self._direct(_gather(getter, names, rows), len(rows))

    def _assemble(self, work: np.ndarray, objects: list) -> np.ndarray:
        """The transformer parts' outputs side by side, from the front's columns."""
        blocks = []
        for part, pick in zip(self.parts, self.front.picks, strict=True):
            if isinstance(part, _Numeric):
                blocks.append(part.apply(work.take(pick, axis=1)))
            else:
                blocks.append(part.apply([objects[i] for i in pick]))
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]

    def _direct(self, data: Columns, n: int) -> np.ndarray:
        """A model without a front: its parts read the fields themselves."""
        blocks = []
        for part in self.parts:
            if isinstance(part, _Numeric):
                cols = part.columns
                X = np.array([data[c] for c in cols], dtype="float64").reshape(len(cols), n)
                blocks.append(part.apply(X.T))
            else:
                blocks.append(part.apply([data[c] for c in part.columns]))
        out = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
        return np.ascontiguousarray(out)

    def _predict(self, getter: Callable[[list], Callable], rows: Rows):
        return self.estimator(self._transform(getter, rows))


def _getter(keys: list) -> Callable:
    """An itemgetter that always returns a tuple, even for one key."""
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


def signature_fields(signature) -> list[tuple[str, str]]:
    """(column, MLflow type name) of a model signature's inputs, in order.

    `compile_model`'s `fields` and what `GET /model` lists: `[("time_hour", "datetime"), ...]`.
    """
    return [(c.name, str(c.type).split(".")[-1].lower()) for c in signature.inputs.inputs]


def compile_model(
    pipeline, fields: list[tuple[str, str]], trees: CompiledTrees | None = None
) -> CompiledModel | None:
    """Compile a fitted pipeline for the array path, or None when it cannot be replayed exactly.

    Args:
        pipeline: A fitted sklearn Pipeline `[RecordCleaner, FeatureBuilder, ColumnTransformer,
            estimator]` (either of the first two may be absent).
        fields: (column, MLflow type) of the model signature, in signature order.
        trees: The LightGBM estimator compiled (`core.serving.compiled.fetch_trees`): it
            replaces the booster when it agrees with it on the probe records (labels equal,
            probabilities within 1e-9); otherwise the booster serves and `backend_reason` says
            why.

    Returns:
        The compiled model, verified against `pipeline` on probe records; None (with the
        reason logged) when a step is not supported or the check fails.
    """
    try:
        compiled = _compile(pipeline, fields)
        _verify(compiled, pipeline, fields)
        if trees is not None:
            compiled = _with_trees(compiled, pipeline.steps[-1][1], trees)
    except NotCompilable as exc:
        log.info("array path unavailable, serving through pandas: %s", exc)
        return None
    except Exception as exc:  # noqa: BLE001 - an unforeseen pipeline: pandas serves it
        log.warning("array path failed to compile, serving through pandas: %r", exc)
        return None
    return compiled


def _compile(pipeline, fields: list[tuple[str, str]]) -> CompiledModel:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from core.data.features import FeatureBuilder
    from core.data.preprocess import RecordCleaner

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
        raise NotCompilable("not a [preprocess, model] Pipeline")
    steps = [s for _, s in pipeline.steps]
    *front_steps, transformer, est = steps
    cleaner = builder = None
    if front_steps and type(front_steps[0]) is RecordCleaner:
        cleaner = front_steps.pop(0)
    if cleaner is not None and front_steps and type(front_steps[0]) is FeatureBuilder:
        builder = front_steps.pop(0)
    if front_steps:
        raise NotCompilable(f"step {type(front_steps[0]).__name__} is not replayed")
    if not isinstance(transformer, ColumnTransformer) or transformer.sparse_output_:
        raise NotCompilable("the preprocessing step is not a dense ColumnTransformer")
    if cleaner is not None:
        front, parts = _front(cleaner, builder, transformer, fields)
        predict, classifier = _estimator(est)
        return CompiledModel(list(fields), parts, predict, classifier, front, _backend(est))
    kinds = dict(fields)
    parts: list[_Numeric | _Categorical] = []
    for name, part, columns in _used_parts(transformer):
        if not all(c in kinds for c in columns):
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
    return CompiledModel(list(fields), parts, predict, classifier, backend=_backend(est))


def _backend(est) -> str:
    return "lightgbm" if lightgbm_estimator(est) else "sklearn"


_TREES_TOLERANCE = 1e-9


def _with_trees(compiled: CompiledModel, est, trees: CompiledTrees) -> CompiledModel:
    """`compiled` with the compiled trees as its estimator, if they agree with the booster.

    Compared on the probe records' features (as one batch and row by row) plus a row of
    missing values: labels equal, probabilities (or regression values) within 1e-9.
    """
    faster = _lightgbm(trees.predict, est, compiled.classifier)
    X = compiled.transform_records(probe_records(compiled, seed=1))
    X = np.vstack([X, np.full((1, X.shape[1]), np.nan)])
    try:
        batch = faster(X)
        alone = [faster(X[i : i + 1]) for i in range(8)]
    except Exception as exc:  # noqa: BLE001 - a broken library: the booster serves
        return _keep_booster(compiled, f"compiled trees failed on probe rows: {exc!r}"[:300])
    expected = compiled.estimator(X)
    got = [np.asarray(batch[k]) for k in (0, 1) if batch[k] is not None]
    got_alone = [np.concatenate([a[k] for a in alone]) for k in (0, 1) if batch[k] is not None]
    want = [np.asarray(expected[k]) for k in (0, 1) if expected[k] is not None]
    if compiled.classifier and not (
        np.array_equal(want[0], got[0]) and np.array_equal(want[0][:8], got_alone[0])
    ):
        return _keep_booster(compiled, "compiled trees' labels differ from the booster's")
    rtol = 0.0 if compiled.classifier else _TREES_TOLERANCE  # probabilities: absolute 1e-9
    close = functools.partial(np.allclose, rtol=rtol, atol=_TREES_TOLERANCE)
    if not (close(want[-1], got[-1]) and close(want[-1][:8], got_alone[-1])):
        what = "probabilities" if compiled.classifier else "values"
        return _keep_booster(compiled, f"compiled trees' {what} differ from the booster's")
    return dataclasses.replace(compiled, estimator=faster, backend=BACKEND, backend_reason=None)


def _keep_booster(compiled: CompiledModel, reason: str) -> CompiledModel:
    log.warning("the booster serves: %s", reason)
    return dataclasses.replace(compiled, backend_reason=reason)


# --------------------------------------------------------------------------- verification
_OFFSETS = ["Z", "+00:00", "-00:00", "-05:00", "+05:30", "+05:45", "-09:30", "+14:00", "-12:00"]
_ODD_STAMPS = [  # forms and values that stress the parsing and the UTC conversion
    "2013-12-31T23:30:00-05:00",  # next year in UTC
    "2016-02-29T23:59:59.999999-00:30",  # leap day, then 1 March in UTC
    "2013-01-05",
    "2013-01-05 04:00",
    "2013-01-06T01:00:00+05:30",  # the day before in UTC
    "20130105T040000",  # ISO basic format: through pandas
    "2013-01-05T04",
    "2300-01-01T00:00:00Z",  # beyond pandas' range: missing
    "not a timestamp",
    None,
]


def _probe_stamps(rng: np.random.Generator, n: int) -> list:
    start = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(2036, 1, 1, tzinfo=UTC).timestamp()
    out: list = []
    for i in range(n):
        stamp = datetime.fromtimestamp(float(rng.uniform(start, end)), UTC).replace(microsecond=0)
        form = int(rng.integers(0, 7))
        if form == 0:
            text = stamp.strftime("%Y-%m-%d")
        elif form == 1:
            text = stamp.strftime("%Y-%m-%d %H:%M:%S")
        elif form == 2:
            text = stamp.strftime("%Y-%m-%dT%H:%M")
        else:
            digits = int(rng.integers(1, 7)) if form == 3 else -1  # fractional seconds
            text = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[: 20 + digits]
            if form != 4:  # a zone
                text += _OFFSETS[int(rng.integers(0, len(_OFFSETS)))]
        out.append(_ODD_STAMPS[i] if i < len(_ODD_STAMPS) else text)
    return [out[j] for j in rng.permutation(n)]


def _probe_numbers(rng: np.random.Generator, n: int, kind: str, specials: list[float]) -> list:
    values: list = rng.normal(0, 1000, n).round(3).tolist()
    if kind in {"long", "integer"}:
        values = [int(v) for v in values]
    values = [None if rng.random() < 0.1 else v for v in values]
    for j, v in zip(rng.permutation(n), specials, strict=False):
        values[j] = v
    return values


def _probe_field(rng, n: int, compiled: CompiledModel, name: str, kind: str) -> list:
    front = compiled.front
    read = front.kinds.get(name, "other")
    if read == "float" or read == "other" and kind in NUMERIC_TYPES - {"boolean"}:
        return _probe_numbers(rng, n, kind, front.specials.get(name, []))
    if read in {"timestamp", "datetime"} or read == "other" and kind == "datetime":
        return _probe_stamps(rng, n)
    if read == "bool" or read == "other" and kind == "boolean":
        return [[True, False, None][j] for j in rng.integers(0, 3, n)]
    pool = [*front.categories.get(name, ["a", "b"]), None, _UNKNOWN + "x"]
    return [pool[j] for j in rng.integers(0, len(pool), n)]


def probe_records(compiled: CompiledModel, n: int = _PROBE_ROWS, seed: int = 0) -> list[dict]:
    """Random records over every field: known, missing and unknown categories, wide numbers.

    With a record front, every signature field gets raw values: timestamps as ISO-8601 strings
    in several forms and offsets (and a few odd or unparsable ones), numbers on and beyond the
    clip fences and the bin edges, missing values.
    """
    rng = np.random.default_rng(seed)
    records: list[dict] = [{} for _ in range(n)]
    if compiled.front is not None:
        for name, kind in compiled.fields:
            for record, value in zip(
                records, _probe_field(rng, n, compiled, name, kind), strict=True
            ):
                record[name] = value
        return records
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
    """The compiled path must reproduce the pipeline exactly on probe records.

    The frame is built as the API's pandas path builds it, so the pipeline sees what it would
    see when serving these records. The records are replayed as one batch and one by one (a
    few rows take the plain-Python path).
    """
    records = probe_records(compiled)
    frame = pd.DataFrame.from_records(records, columns=[c for c, _ in fields])
    expected = np.asarray(pipeline[:-1].transform(frame))
    got = compiled.transform_records(records)
    if expected.shape != got.shape or not np.array_equal(expected, got, equal_nan=True):
        raise NotCompilable("compiled preprocessing differs from the pipeline on probe records")
    alone = np.vstack([compiled.transform_records([r]) for r in records])  # the few-rows path
    if not np.array_equal(expected, alone, equal_nan=True):
        raise NotCompilable("compiled preprocessing of single records differs from the pipeline")
    data = {c: [r[c] for r in records] for c, _ in fields}  # the API's validated columns
    if not np.array_equal(expected, compiled.transform_columns(data, len(records)), equal_nan=True):
        raise NotCompilable("compiled preprocessing of columns differs from the pipeline")
    preds, proba = compiled.estimator(got)
    if not same_predictions(np.asarray(pipeline.predict(frame)), preds, compiled.classifier):
        raise NotCompilable("compiled predictions differ from the pipeline on probe records")
    if proba is not None and not np.allclose(pipeline.predict_proba(frame), proba, atol=1e-12):
        raise NotCompilable("compiled probabilities differ from the pipeline on probe records")
