"""One answered prediction and its row in the log: columns, `inputs_json`, UTC times."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

try:  # the API's JSON library; the log falls back to `json` without it
    import msgspec as _msgspec
except ImportError:  # pragma: no cover - installed with the `api` extra
    _msgspec = None

PREDICTION_COLUMNS = [
    "request_id",
    "time",
    "model_name",
    "model_version",
    "variant",
    "inputs_json",
    "prediction",
    "probability",
    "latency_ms",
    "client",
]
FEEDBACK_COLUMNS = ["request_id", "actual", "time"]
COLUMNS = {"predictions": PREDICTION_COLUMNS, "feedback": FEEDBACK_COLUMNS}
"""The columns of each kind of row (`predictions`, `feedback`)."""


@dataclass
class PredictionRecord:
    """One answered prediction.

    Attributes:
        request_id: Unique id of the request (the join key for feedback).
        time: UTC ISO timestamp of the prediction.
        model_name: Registered model name.
        model_version: Registered model version.
        variant: "champion", "challenger" (canary) or "shadow".
        inputs: The input record as received.
        prediction: The predicted value or label.
        probability: For a binary classifier the positive class's probability (the second of
            `classes_`), for more classes the predicted class's; None for regression.
        latency_ms: Model latency in milliseconds.
        client: Name of the API key that asked (`config` / `env` for a legacy key); None when
            the API needs no key. Never the key itself.
    """

    request_id: str
    time: str
    model_name: str
    model_version: str
    variant: str
    inputs: dict
    prediction: float | int | str
    probability: float | None = None
    latency_ms: float | None = None
    client: str | None = None  # last: records are built positionally

    def to_row(self) -> dict:
        """The record as a row of the log, inputs serialized to `inputs_json`."""
        return {
            "request_id": self.request_id,
            "time": self.time,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "variant": self.variant,
            "inputs_json": _inputs_json(self.inputs),
            "prediction": self.prediction,
            "probability": self.probability,
            "latency_ms": self.latency_ms,
            "client": self.client,
        }


def _inputs_json(inputs: dict) -> str:
    """Inputs as JSON with sorted keys (msgspec when installed: ~10x faster than `json`)."""
    if _msgspec is not None:
        try:
            return _msgspec.json.encode(inputs, order="sorted").decode()
        except (TypeError, _msgspec.EncodeError):
            pass  # a value msgspec does not know: `json` with `str` for it
    return json.dumps(inputs, default=str, sort_keys=True)


def as_rows(records: list[PredictionRecord]) -> list[dict]:
    """Records as rows of the log (see `PredictionRecord.to_row`)."""
    return [r.to_row() for r in records]


def utc(value: str | datetime) -> datetime:
    """An ISO time (or datetime) as an aware UTC datetime; naive means UTC."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
