"""Reading the prediction log: the same frames from a Parquet folder or a database URL."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.predictions.sinks import ParquetSink, SqlSink, open_sink

if TYPE_CHECKING:
    from core.workspace import Workspace


def _cutoff(since: str | None) -> datetime | None:
    if not since:
        return None
    stamp = pd.Timestamp(since)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def _reading(source: Path | str) -> closing[ParquetSink | SqlSink]:
    """A sink for reading `source`, closed (its engine disposed) on exit."""
    return closing(open_sink(source))


def read_predictions(source: Path | str, since: str | None = None) -> pd.DataFrame:
    """All logged predictions, oldest first.

    Args:
        source: Folder of the log or its SQLAlchemy URL.
        since: UTC ISO time; only predictions at or after it are returned (a naive time is UTC).

    Returns:
        One row per prediction with `PREDICTION_COLUMNS` (empty frame when none). `time` is an
        ISO string in both cases (normalised to UTC from a database).
    """
    with _reading(source) as sink:
        return sink.read("predictions", _cutoff(since))


def read_feedback(source: Path | str) -> pd.DataFrame:
    """All logged feedback rows (`request_id`, `actual`, `time`) from a folder or a URL."""
    with _reading(source) as sink:
        return sink.read("feedback")


def joined_with_feedback(source: Path | str) -> pd.DataFrame:
    """Predictions left-joined with the latest actual per request id.

    Args:
        source: Folder of the log or its SQLAlchemy URL.

    Returns:
        The predictions plus `actual` and `feedback_time` (missing when no feedback yet).
    """
    with _reading(source) as sink:
        predictions = sink.read("predictions")
        feedback = sink.read("feedback")
    if not feedback.empty:
        feedback = feedback.assign(_t=pd.to_datetime(feedback["time"], utc=True, format="ISO8601"))
        feedback = feedback.sort_values("_t", kind="stable").drop_duplicates(
            "request_id", keep="last"
        )
    latest = feedback[["request_id", "actual", "time"]].rename(columns={"time": "feedback_time"})
    return predictions.merge(latest, on="request_id", how="left")


def labelled_predictions(source: Path | str, labelled_before: datetime) -> pd.DataFrame:
    """One row per request id whose latest actual was recorded at or before `labelled_before`.

    Args:
        source: Folder of the log or its SQLAlchemy URL.
        labelled_before: UTC time; labels recorded after it are left for a later call.

    Returns:
        `joined_with_feedback` rows with an actual (the first logged prediction of a request
        id: a shadow's row carries the same inputs), oldest prediction first.
    """
    joined = joined_with_feedback(source)
    if joined.empty or "actual" not in joined:
        return joined.iloc[0:0]
    joined = joined[joined["actual"].notna()]
    labelled_at = pd.to_datetime(joined["feedback_time"], utc=True, format="ISO8601")
    joined = joined[labelled_at <= pd.Timestamp(labelled_before)]
    return joined.drop_duplicates("request_id", keep="first").reset_index(drop=True)


def prediction_log_url(ws: Workspace) -> str | None:
    """The database URL of the workspace's log, None when it is the Parquet folder.

    `WORKBENCH_PREDICTION_LOG_URL` wins over the config's `serving.prediction_log_url`.
    """
    return ws.config.serving.resolved().prediction_log_url


def prediction_log_source(ws: Workspace) -> Path | str:
    """Where the workspace's prediction log is read from: its URL, else `predictions_dir`."""
    return prediction_log_url(ws) or ws.predictions_dir
