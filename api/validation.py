"""Check request records against the model signature; errors name the field and record.

`api.schemas.predict_request_schema` states the same rules as JSON Schema (the /predict body of
the OpenAPI document): what the document calls valid, these checks accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from api.errors import Invalid, TooLarge
from core.config.serving import UnknownFields

NUMERIC_TYPES = frozenset({"long", "integer", "double", "float"})
INTEGER_TYPES = frozenset({"long", "integer"})
"""MLflow types sent as JSON numbers; the integer ones take integral values only."""
MAX_ABS_NUMBER = 2**53
"""Largest magnitude of a numeric field: integers up to it are exact in float64, and far larger
finite values overflow inside models (a scaler's division gives inf, a naive Bayes likelihood
NaN), which would fail the request or answer a NaN probability."""


def invalid(message: str, index: int | None = None, field: str | None = None) -> Invalid:
    """A 422 whose JSON body names the record index and field."""
    return Invalid(message, {"index": index, "field": field})


def is_timestamp(value: str) -> bool:
    """Whether a string is an ISO-8601 date or date-time (`2013-01-01T05:00:00Z`)."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _type_ok(value, kind: str) -> bool:
    if value is None:
        return True  # missing values are imputed by the model's transformer
    if kind in INTEGER_TYPES:  # JSON `2359.0` is an integer too (as in JSON Schema)
        return type(value) is int or (type(value) is float and value.is_integer())
    if kind in NUMERIC_TYPES:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        return isinstance(value, str) and is_timestamp(value)
    return isinstance(value, str)


_EXPECTED = {
    "datetime": "an ISO-8601 timestamp string",
    "long": "an integer",
    "integer": "an integer",
}


def _too_many(n: int, max_batch: int, field: str) -> None:
    if not n:
        raise invalid(f"{field} is empty: send at least one record", field=field)
    if n > max_batch:
        raise TooLarge(f"{n} records exceed the batch limit of {max_batch}", {"field": field})


def _check_value(where: str, i: int, name: str, kind: str, value) -> None:
    if not _type_ok(value, kind):
        got = repr(value)[:40] if type(value) in (str, float) else type(value).__name__
        raise invalid(
            f"{where}[{i}]: field '{name}' must be {_EXPECTED.get(kind, kind)}, got {got}",
            i,
            name,
        )
    if (
        kind in NUMERIC_TYPES
        and value is not None
        and not -MAX_ABS_NUMBER <= value <= MAX_ABS_NUMBER
    ):
        raise invalid(
            f"{where}[{i}]: field '{name}' is out of range: |value| must be at most "
            f"2^53 ({MAX_ABS_NUMBER})",
            i,
            name,
        )


_NONE = type(None)
_FEW = 8
_ALLOWED = {
    "boolean": frozenset({bool, _NONE}),
    "string": frozenset({str, _NONE}),
    "datetime": frozenset({str, _NONE}),
} | {kind: frozenset({int, float, _NONE}) for kind in NUMERIC_TYPES}
_FEW_ALLOWED = _ALLOWED | {kind: frozenset({int, _NONE}) for kind in INTEGER_TYPES}


def _many_ok(values: list, kind: str, allowed: frozenset) -> bool:
    """`_columns_ok` for one column of more than `_FEW` values: by value type sets."""
    types = set(map(type, values))
    if not types <= allowed:
        return False
    if kind == "datetime":
        return all(v is None or is_timestamp(v) for v in values)
    if kind in NUMERIC_TYPES and (int in types or float in types):
        present = [v for v in values if v is not None] if _NONE in types else values
        if max(present) > MAX_ABS_NUMBER or min(present) < -MAX_ABS_NUMBER:
            return False
        if kind in INTEGER_TYPES and float in types:
            return all(v.is_integer() for v in present if type(v) is float)
    return True


def _columns_ok(columns: list[list], kinds: list[str]) -> bool:
    """Whether every value has an allowed type and numbers are in range, column by column.

    A fast pass for valid batches; on False the record-by-record pass finds and names the
    first bad value (and accepts what this pass leaves to it: a few floats in an integer
    column, which must be integral).
    """
    for values, kind in zip(columns, kinds, strict=True):
        if len(values) > _FEW:
            if not _many_ok(values, kind, _ALLOWED.get(kind, _ALLOWED["string"])):
                return False
            continue
        # Value by value: cheaper than building sets for a few rows.
        allowed, numeric = _FEW_ALLOWED.get(kind, _ALLOWED["string"]), kind in NUMERIC_TYPES
        for v in values:
            if type(v) not in allowed or (
                numeric and v is not None and not -MAX_ABS_NUMBER <= v <= MAX_ABS_NUMBER
            ):
                return False
            if kind == "datetime" and v is not None and not is_timestamp(v):
                return False
    return True


def _unknown(where: str, name: str, index: int | None = None) -> Invalid:
    return invalid(
        f"{where}: unknown field '{name}' (the served model's inputs: GET /model)", index, name
    )


def check_records(
    records: list[dict], fields: list[tuple[str, str]], max_batch: int, ignore_unknown: bool = False
) -> list[str]:
    """Raise a 4xx for an empty or oversized batch, a missing, unknown or mistyped field.

    A numeric value beyond ±`MAX_ABS_NUMBER` is refused like a mistyped one. With
    `ignore_unknown`, fields the model does not take are allowed: their names are returned
    (first seen first), for the caller to drop.
    """
    return record_columns(records, fields, max_batch, ignore_unknown)[0]


def record_columns(
    records: list[dict], fields: list[tuple[str, str]], max_batch: int, ignore_unknown: bool = False
) -> tuple[list[str], dict[str, list]]:
    """`check_records`, and the batch as its columns: field -> the values of every record.

    The columns are the ones the check walks, kept for the model (`Batch.data`).
    """
    _too_many(len(records), max_batch, "records")
    names, kinds = [n for n, _ in fields], [k for _, k in fields]
    if all(len(r) == len(names) for r in records):
        try:
            columns = [[r[name] for r in records] for name in names]
        except KeyError:
            pass
        else:
            if _columns_ok(columns, kinds):
                return [], dict(zip(names, columns, strict=True))
    known = set(names)
    ignored: dict[str, None] = {}
    for i, record in enumerate(records):
        missing = [n for n in names if n not in record]
        if missing:
            raise invalid(f"records[{i}]: missing field '{missing[0]}'", i, missing[0])
        if len(record) > len(names):  # every input is present: the rest are unknown
            unknown = [k for k in record if k not in known]
            if not ignore_unknown:
                raise _unknown(f"records[{i}]", unknown[0], i)
            ignored.update(dict.fromkeys(unknown))
        for name, kind in fields:
            _check_value("records", i, name, kind, record[name])
    return list(ignored), {name: [r[name] for r in records] for name in names}


def check_rows(
    columns: list[str],
    rows: list[list],
    fields: list[tuple[str, str]],
    max_batch: int,
    ignore_unknown: bool = False,
) -> list[str]:
    """The columnar payload: `columns` names every field once, each row has one value each.

    With `ignore_unknown`, `columns` may name fields the model does not take (each row still
    has a value for each); their names are returned, for the caller to drop.
    """
    return row_columns(columns, rows, fields, max_batch, ignore_unknown)[0]


def row_columns(
    columns: list[str],
    rows: list[list],
    fields: list[tuple[str, str]],
    max_batch: int,
    ignore_unknown: bool = False,
) -> tuple[list[str], dict[str, list]]:
    """`check_rows`, and the model's fields as columns: field -> the values of every row."""
    kinds = dict(fields)
    seen: set[str] = set()
    ignored: list[str] = []
    for name in columns:
        if name in seen:
            raise invalid(f"columns: field '{name}' is given twice", field=name)
        seen.add(name)
        if name not in kinds:
            if not ignore_unknown:
                raise _unknown("columns", name)
            ignored.append(name)
    missing = [n for n, _ in fields if n not in seen]
    if missing:
        raise invalid(f"columns: missing field '{missing[0]}'", field=missing[0])
    _too_many(len(rows), max_batch, "rows")
    width = len(columns)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise invalid(f"rows[{i}]: {len(row)} values for {width} columns", i, field="rows")
    typed = [(j, name, kinds[name]) for j, name in enumerate(columns) if name in kinds]
    values = [[row[j] for row in rows] for j, _, _ in typed]
    data = {name: column for (_, name, _), column in zip(typed, values, strict=True)}
    if _columns_ok(values, [kind for _, _, kind in typed]):
        return ignored, data
    for i, row in enumerate(rows):
        for j, name, kind in typed:
            _check_value("rows", i, name, kind, row[j])
    return ignored, data


@dataclass(frozen=True)
class Batch:
    """A validated /predict body: `records` (mappings), or `columns` + `rows` (lists).

    Only the model's inputs: fields ignored under `unknown_fields: ignore` are dropped here, so
    neither the model nor the prediction log sees them; `ignored` names them. `data` is the
    batch as its columns (field -> values), built once by the validation and handed to the
    model as they are (`LoadedModel` never walks the rows again); None when not built.
    """

    columns: list[str] | None
    rows: list
    ignored: tuple[str, ...] = ()
    data: dict[str, list] | None = None

    @classmethod
    def of(
        cls, data, fields: list[tuple[str, str]], max_batch: int, unknown: UnknownFields = "reject"
    ) -> Batch:
        """Validate a `PredictRequest` against the model's fields; 4xx naming what is wrong.

        `unknown` is the `serving.unknown_fields` policy: `reject` or `ignore`.
        """
        unset = msgspec.UNSET
        records = None if data.records is unset else data.records
        columns = None if data.columns is unset else data.columns
        rows = None if data.rows is unset else data.rows
        columnar = columns is not None or rows is not None
        if (records is not None) == columnar:
            raise invalid("send either `records`, or `columns` with `rows`", field="records")
        ignore = unknown == "ignore"
        if records is not None:
            ignored, data = record_columns(records, fields, max_batch, ignore)
            if ignored:
                names, n = [name for name, _ in fields], len(fields)
                records = [r if len(r) == n else {k: r[k] for k in names} for r in records]
            return cls(None, records, tuple(ignored), data)
        if columns is None or rows is None:
            absent = "columns" if columns is None else "rows"
            raise invalid(f"`columns` and `rows` go together: `{absent}` is missing", field=absent)
        ignored, data = row_columns(columns, rows, fields, max_batch, ignore)
        if ignored:
            dropped = set(ignored)
            kept = [j for j, name in enumerate(columns) if name not in dropped]
            columns = [columns[j] for j in kept]
            rows = [[row[j] for j in kept] for row in rows]
        return cls(list(columns), rows, tuple(ignored), data)

    def __len__(self) -> int:
        return len(self.rows)

    def predict(self, model) -> tuple[list, list | None]:
        """Predictions (and probabilities) of a `LoadedModel` for this batch."""
        if self.data is not None and model.compiled is not None:
            return model.estimate(model.compiled.transform_columns(self.data, len(self.rows)))
        if self.columns is None:
            return model.predict_records(self.rows)
        return model.predict_rows(self.columns, self.rows)

    def records(self) -> list[dict]:
        """The batch as mappings (for the prediction log)."""
        if self.columns is None:
            return self.rows
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]
