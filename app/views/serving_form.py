"""The Serving page's "Try a prediction" form: value conversions, no Streamlit calls.

A stored value becomes a widget value (`form_default`), a widget value the raw JSON value
`POST /predict` takes (`record_value`, `field_value`); the HTTP client is
`core.serving.client.ServingClient`.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from core.serving.records import is_missing

_NUMERIC = {"long", "integer", "double", "float"}
_INTEGRAL = {"long", "integer"}
_MISSING = {"", "none", "null", "nan"}


def form_text(value: object) -> str:
    """A logged or stored value as the text of a form field (missing = empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.12g}"
    return str(value)


def field_value(text: str, kind: str) -> object:
    """A form field's text as the JSON value the API expects for an input of type `kind`.

    Empty text (or `nan`/`null`) is a missing value, which the model imputes. Text that is not
    of the type is sent as it is, so the API answers which field is wrong.
    """
    text = text.strip()
    if text.lower() in _MISSING:
        return None
    if kind in _NUMERIC:
        for cast in (int, float):
            try:
                number = cast(text)
            except ValueError:
                continue
            return number if math.isfinite(number) else text
        return text
    if kind == "boolean" and text.lower() in {"true", "false"}:
        return text.lower() == "true"
    return text


# --- the "Try a prediction" form: stored values -> widget values -> raw JSON record -------------


def form_default(value: object, kind: str) -> object:
    """A stored raw value as the initial value of the form widget of an input of type `kind`.

    The value comes from a row of the processed table; the widget value is a naive UTC
    `datetime`, an int, a float, a str, a bool, or None (missing, or not of the type).
    """
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if is_missing(value):
        return None
    if kind == "datetime":
        return _utc_naive(value)
    if kind in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value) if kind in _INTEGRAL and float(value).is_integer() else float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    return str(value)


def _utc_naive(value: object) -> datetime | None:
    """A timestamp (aware: converted to UTC; naive: taken as UTC) as a naive UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def record_value(value: object, kind: str) -> object:
    """A widget's value as the JSON value `POST /predict` takes for an input of type `kind`.

    None (a cleared field) is a missing value, which the model imputes. A datetime (the form
    shows UTC) is an ISO-8601 string with its zone; a text for a non-text input goes through
    `field_value`, so a value of the wrong type is sent as typed and the API names the field.
    """
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime | date):
        return _utc_naive(value).replace(tzinfo=UTC).isoformat()
    if isinstance(value, str):
        if kind == "string":
            return value.strip() or None
        return field_value(value, kind)
    if kind in _INTEGRAL and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
