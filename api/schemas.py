"""Request and response schemas (msgspec) of the prediction API."""

from __future__ import annotations

from typing import Any

import msgspec


class PredictRequest(msgspec.Struct):
    """Records to score: `records` (mappings of field to value), or `columns` + `rows`.

    The columnar form names the fields once and sends each record as a list of values in
    `columns` order; it is cheaper to parse for large batches.
    """

    records: list[dict[str, Any]] | None = None
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None


class ModelRef(msgspec.Struct):
    """Which model version produced a response."""

    name: str
    version: str
    alias: str


class PredictResponse(msgspec.Struct):
    """Predictions in record order; probabilities for classification."""

    predictions: list[Any]
    model: ModelRef
    request_id: str
    variant: str
    probabilities: list[float] | None = None


class FeedbackRequest(msgspec.Struct):
    """The actual outcome of an earlier prediction."""

    request_id: str
    actual: Any


class ErrorResponse(msgspec.Struct):
    """The body of every 4xx/5xx answer; `extra` names the record index and field when known."""

    status_code: int
    detail: str
    extra: dict[str, Any] | list[Any] | None = None


class ReadyStatus(msgspec.Struct):
    """Readiness: whether a champion is loaded, and why the registry is degraded if it is."""

    ready: bool
    degraded: str | None
    model: str | None
    challenger: str | None


class InputField(msgspec.Struct):
    """One input column of the served model."""

    name: str
    type: str


class ModelInfo(msgspec.Struct):
    """The served model."""

    name: str
    version: str
    alias: str
    loaded_at: str
    inputs: list[InputField]
    challenger_version: str | None = None
    prediction_path: str = "pandas"
    """`array` when the pipeline runs on numpy arrays (`core.inference`), else `pandas`."""
