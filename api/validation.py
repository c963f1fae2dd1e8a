"""Check request records against the model signature; errors name the field and record."""

from __future__ import annotations

from litestar.exceptions import HTTPException

_NUMERIC = {"long", "integer", "double", "float"}


def invalid(message: str, index: int | None = None, field: str | None = None) -> HTTPException:
    """A 422 whose JSON body names the record index and field."""
    return HTTPException(status_code=422, detail=message, extra={"index": index, "field": field})


def _type_ok(value, kind: str) -> bool:
    if value is None:
        return True  # missing values are imputed by the model's transformer
    if kind in _NUMERIC:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def check_records(records: list[dict], fields: list[tuple[str, str]], max_batch: int) -> None:
    """Raise a 4xx for an empty or oversized batch, a missing, unknown or mistyped field."""
    if not records:
        raise invalid("records is empty: send at least one record", field="records")
    if len(records) > max_batch:
        raise HTTPException(
            status_code=413,
            detail=f"{len(records)} records exceed the batch limit of {max_batch}",
            extra={"field": "records"},
        )
    names = {n for n, _ in fields}
    for i, record in enumerate(records):
        missing = [n for n, _ in fields if n not in record]
        if missing:
            raise invalid(f"records[{i}]: missing field '{missing[0]}'", i, missing[0])
        unknown = [k for k in record if k not in names]
        if unknown:
            raise invalid(f"records[{i}]: unknown field '{unknown[0]}'", i, unknown[0])
        for name, kind in fields:
            if not _type_ok(record[name], kind):
                raise invalid(
                    f"records[{i}]: field '{name}' must be {kind}, got "
                    f"{type(record[name]).__name__}",
                    i,
                    name,
                )
