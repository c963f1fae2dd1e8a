"""Raw table values as the JSON a client sends to `POST /predict`.

One conversion for every client of the model boundary (README): `workbench simulate`'s
traffic, the benchmarks and the tests send records as the source has them (the model's input
fields, JSON values, timestamps as ISO-8601 strings); the Serving page's form shares `is_missing`.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from core.config import BOOL_TEXT

_NUMERIC = {"long", "integer", "double", "float"}


def json_value(value, kind: str = ""):
    """One value of a raw table as the JSON value the API takes for an input of type `kind`.

    Missing values (None, NaN, NaT, pd.NA) and non-finite numbers are null; timestamps are
    ISO-8601 strings, with their zone when they have one (naive ones mean UTC to the model);
    numpy scalars are Python numbers.
    A text where a number or timestamp is expected is parsed, and null when it does not parse
    (what the data pipeline's casts make of it).
    """
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64):
        value = value.item()  # numpy scalars
    if is_missing(value):
        return None
    if kind == "datetime":
        return _timestamp(value)
    if kind in _NUMERIC:
        return _number(value, integral=kind in {"long", "integer"})
    if kind == "boolean":
        return BOOL_TEXT.get(str(value).strip().lower())
    if kind == "string":
        return str(value)
    if isinstance(value, datetime | np.datetime64):
        return _timestamp(value)
    return value


def is_missing(value) -> bool:
    """None, NaN, NaT, pd.NA or a non-finite number (a string never is)."""
    if value is None:
        return True
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value)) or (isinstance(value, float) and not math.isfinite(value))
    except (TypeError, ValueError):  # not a scalar
        return False


def _timestamp(value) -> str | None:
    if isinstance(value, str) and value.strip() == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None  # a number is no timestamp (an epoch would be a guess)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if stamp is pd.NaT:
        return None
    # as the source has it: a zoned timestamp keeps its offset, a naive one (UTC by the
    # model's convention) stays naive, the form MLflow's zone-less `datetime` type accepts
    return stamp.isoformat()


def _number(value, integral: bool):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
    if not isinstance(value, int | float):
        return None
    if integral and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def json_records(frame: pd.DataFrame, fields: list[tuple[str, str]]) -> list[dict]:
    """The rows of a raw table as `/predict` records: exactly `fields` (name, type), JSON values.

    The same conversion serves the simulation's traffic, the benchmarks and the tests, so every
    client sends records as the source has them (see the README, "The model boundary").

    Raises:
        KeyError: A field is not a column of `frame` (the message names it).
    """
    missing = [name for name, _ in fields if name not in frame.columns]
    if missing:
        raise KeyError(f"no column {', '.join(missing)}")
    columns = [
        [json_value(v, kind) for v in frame[name].astype(object).tolist()] for name, kind in fields
    ]
    names = [name for name, _ in fields]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
