"""Request and response schemas (msgspec) of the prediction API."""

from __future__ import annotations

from typing import Any

import msgspec


class PredictRequest(msgspec.Struct):
    """Feature records to score, each a mapping of input field to value."""

    records: list[dict[str, Any]]


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
