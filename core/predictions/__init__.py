"""The prediction log, moved whole into `sinks` on its way to one module per concern."""

from core.predictions.sinks import (
    FEEDBACK_COLUMNS,
    PREDICTION_COLUMNS,
    PredictionLog,
    PredictionRecord,
    is_url,
    joined_with_feedback,
    prediction_log_source,
    read_feedback,
    read_predictions,
)

__all__ = [
    "FEEDBACK_COLUMNS",
    "PREDICTION_COLUMNS",
    "PredictionLog",
    "PredictionRecord",
    "is_url",
    "joined_with_feedback",
    "prediction_log_source",
    "read_feedback",
    "read_predictions",
]
