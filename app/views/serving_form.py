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


# --- the answer's explanation: a waterfall from the base value to the output ------------------

_SPACES = {"log_odds": "log-odds", "value": "predicted value", "probability": "probability"}


def explanation_steps(explanation: dict, top: int = 12) -> list[tuple[str, float]]:
    """The contributions of one explanation as waterfall steps, largest magnitude first.

    Fields that contribute exactly 0 (dropped by the model) are left out; past `top` fields the
    rest are summed into one `N other fields` step, so the steps still add up to the output.
    """
    items = [(k, float(v)) for k, v in explanation["contributions"].items() if v]
    items.sort(key=lambda kv: abs(kv[1]), reverse=True)
    if len(items) > top:
        rest = items[top - 1 :]
        items = items[: top - 1] + [(f"{len(rest)} other fields", sum(v for _, v in rest))]
    return items


def explanation_figure(explanation: dict, probability: float | None = None):
    """A horizontal plotly waterfall: base value -> each field's contribution -> the output.

    In `log_odds` space the output bar is labelled with its probability (the sigmoid).
    """
    import plotly.graph_objects as go

    steps = explanation_steps(explanation)
    base = float(explanation["base_value"])
    output = base + sum(v for _, v in steps)
    space = explanation.get("space", "value")
    label = f"{output:.3f}"
    if space == "log_odds":
        shown = _sigmoid(output) if probability is None else probability
        label += f" (probability {shown:.3f})"
    figure = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *["relative"] * len(steps), "total"],
            y=["base value", *[name for name, _ in steps], "output"],
            x=[base, *[v for _, v in steps], output],
            text=[f"{base:.3f}", *[f"{v:+.3f}" for _, v in steps], label],
            textposition="outside",
            increasing={"marker": {"color": "#d62728"}},
            decreasing={"marker": {"color": "#1f77b4"}},
            totals={"marker": {"color": "#7f7f7f"}},
        )
    )
    figure.update_layout(
        title="Why this prediction: each raw field's contribution",
        xaxis_title=_SPACES.get(space, space),
        yaxis={"autorange": "reversed"},
        height=120 + 28 * (len(steps) + 2),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
    )
    return figure


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
