"""Check request records against the model signature; errors name the field and record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litestar.exceptions import HTTPException

_NUMERIC = {"long", "integer", "double", "float"}
MAX_ABS_NUMBER = 2**53
"""Largest magnitude of a numeric field: integers up to it are exact in float64, and far larger
finite values overflow inside models (a scaler's division gives inf, a naive Bayes likelihood
NaN), which would fail the request or answer a NaN probability."""


def invalid(message: str, index: int | None = None, field: str | None = None) -> HTTPException:
    """A 422 whose JSON body names the record index and field."""
    return HTTPException(status_code=422, detail=message, extra={"index": index, "field": field})


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
    if kind in _NUMERIC:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        return isinstance(value, str) and is_timestamp(value)
    return isinstance(value, str)


_EXPECTED = {"datetime": "an ISO-8601 timestamp string"}


def _too_many(n: int, max_batch: int, field: str) -> None:
    if not n:
        raise invalid(f"{field} is empty: send at least one record", field=field)
    if n > max_batch:
        raise HTTPException(
            status_code=413,
            detail=f"{n} records exceed the batch limit of {max_batch}",
            extra={"field": field},
        )


def _check_value(where: str, i: int, name: str, kind: str, value) -> None:
    if not _type_ok(value, kind):
        got = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise invalid(
            f"{where}[{i}]: field '{name}' must be {_EXPECTED.get(kind, kind)}, got {got}",
            i,
            name,
        )
    if kind in _NUMERIC and value is not None and not -MAX_ABS_NUMBER <= value <= MAX_ABS_NUMBER:
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
} | {kind: frozenset({int, float, _NONE}) for kind in _NUMERIC}


def _columns_ok(columns: list[list], kinds: list[str]) -> bool:
    """Whether every value has an allowed type and numbers are in range, column by column.

    A fast pass for valid batches; on False the record-by-record pass finds and names the
    first bad value.
    """
    for values, kind in zip(columns, kinds, strict=True):
        allowed, numeric = _ALLOWED.get(kind, _ALLOWED["string"]), kind in _NUMERIC
        if len(values) <= _FEW:  # value by value: cheaper than building sets for a few rows
            for v in values:
                if type(v) not in allowed or (
                    numeric and v is not None and not -MAX_ABS_NUMBER <= v <= MAX_ABS_NUMBER
                ):
                    return False
                if kind == "datetime" and v is not None and not is_timestamp(v):
                    return False
            continue
        types = set(map(type, values))
        if not types <= allowed:
            return False
        if kind == "datetime" and not all(v is None or is_timestamp(v) for v in values):
            return False
        if numeric and (int in types or float in types):
            present = [v for v in values if v is not None] if _NONE in types else values
            if max(present) > MAX_ABS_NUMBER or min(present) < -MAX_ABS_NUMBER:
                return False
    return True


def check_records(records: list[dict], fields: list[tuple[str, str]], max_batch: int) -> None:
    """Raise a 4xx for an empty or oversized batch, a missing, unknown or mistyped field.

    A numeric value beyond ±`MAX_ABS_NUMBER` is refused like a mistyped one.
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
                return
    known = set(names)
    for i, record in enumerate(records):
        missing = [n for n in names if n not in record]
        if missing:
            raise invalid(f"records[{i}]: missing field '{missing[0]}'", i, missing[0])
        unknown = [k for k in record if k not in known]
        if unknown:
            raise invalid(f"records[{i}]: unknown field '{unknown[0]}'", i, unknown[0])
        for name, kind in fields:
            _check_value("records", i, name, kind, record[name])


def check_rows(
    columns: list[str], rows: list[list], fields: list[tuple[str, str]], max_batch: int
) -> None:
    """The columnar payload: `columns` names every field once, each row has one value each."""
    kinds = dict(fields)
    seen: set[str] = set()
    for name in columns:
        if name not in kinds:
            raise invalid(f"columns: unknown field '{name}'", field=name)
        if name in seen:
            raise invalid(f"columns: field '{name}' is given twice", field=name)
        seen.add(name)
    missing = [n for n, _ in fields if n not in seen]
    if missing:
        raise invalid(f"columns: missing field '{missing[0]}'", field=missing[0])
    _too_many(len(rows), max_batch, "rows")
    width = len(columns)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise invalid(f"rows[{i}]: {len(row)} values for {width} columns", i, field="rows")
    values = [[row[j] for row in rows] for j in range(width)]
    if _columns_ok(values, [kinds[c] for c in columns]):
        return
    typed = [(j, name, kinds[name]) for j, name in enumerate(columns)]
    for i, row in enumerate(rows):
        for j, name, kind in typed:
            _check_value("rows", i, name, kind, row[j])


@dataclass(frozen=True)
class Batch:
    """A validated /predict body: `records` (mappings), or `columns` + `rows` (lists)."""

    columns: list[str] | None
    rows: list

    @classmethod
    def of(cls, data, fields: list[tuple[str, str]], max_batch: int) -> Batch:
        """Validate a `PredictRequest` against the model's fields; 4xx naming what is wrong."""
        columnar = data.columns is not None or data.rows is not None
        if (data.records is not None) == columnar:
            raise invalid("send either `records`, or `columns` with `rows`", field="records")
        if data.records is not None:
            check_records(data.records, fields, max_batch)
            return cls(None, data.records)
        if data.columns is None or data.rows is None:
            absent = "columns" if data.columns is None else "rows"
            raise invalid(f"`columns` and `rows` go together: `{absent}` is missing", field=absent)
        check_rows(data.columns, data.rows, fields, max_batch)
        return cls(list(data.columns), data.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def predict(self, model) -> tuple[list, list | None]:
        """Predictions (and probabilities) of a `LoadedModel` for this batch."""
        if self.columns is None:
            return model.predict_records(self.rows)
        return model.predict_rows(self.columns, self.rows)

    def records(self) -> list[dict]:
        """The batch as mappings (for the prediction log)."""
        if self.columns is None:
            return self.rows
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]
