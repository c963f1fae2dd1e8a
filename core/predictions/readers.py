"""Reading the prediction log: the same frames from a Parquet folder or a database URL."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.predictions.sinks import ParquetSink, SqlSink, is_url, open_sink

if TYPE_CHECKING:
    from core.workspace import Workspace


def _cutoff(since: str | datetime | None) -> datetime | None:
    if since is None or since == "":
        return None
    stamp = pd.Timestamp(since)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def _reading(source: Path | str) -> closing[ParquetSink | SqlSink]:
    """A sink for reading `source`, closed (its engine disposed) on exit."""
    return closing(open_sink(source))


def read_predictions(
    source: Path | str, since: str | None = None, until: str | datetime | None = None
) -> pd.DataFrame:
    """Logged predictions, in the order they were written.

    Args:
        source: Folder of the log or its SQLAlchemy URL.
        since: UTC ISO time; only predictions at or after it are returned (a naive time is UTC).
        until: UTC ISO time (or datetime); only predictions at or before it.

    Returns:
        One row per prediction with `PREDICTION_COLUMNS` (empty frame when none). `time` is an
        ISO string in both cases (normalised to UTC from a database). From a folder only the
        date partitions between `since` and `until` are read; from a database the indexed
        `time` is filtered in SQL.
    """
    with _reading(source) as sink:
        return sink.read("predictions", _cutoff(since), _cutoff(until))


def read_feedback(source: Path | str, written_since: str | None = None) -> pd.DataFrame:
    """Logged feedback rows (`request_id`, `actual`, `time`) from a folder or a URL.

    Args:
        source: Folder of the log or its SQLAlchemy URL.
        written_since: UTC ISO time; from a folder, only the feedback written on or after its
            UTC day (its date partitions, and flat parts flushed since) is read: what can label
            the predictions of a window starting then, since a label is written after the
            prediction it labels. A database's feedback is read whole.
    """
    with _reading(source) as sink:
        return sink.read("feedback", _cutoff(written_since))


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


def log_signature(source: Path | str) -> tuple:
    """Changes whenever a part is added to or removed from a Parquet log (cache keys).

    The newest part name and the part count of predictions and feedback (flat parts and date
    partitions alike); `()` for a database URL (the caller re-reads on a timer).
    """
    if is_url(source):
        return ()
    out: list = []
    for folder in (Path(source), Path(source) / "feedback"):
        parts = list(folder.glob("part-*.parquet")) + list(folder.glob("date=*/part-*.parquet"))
        out += [len(parts), max((p.name for p in parts), default="")]
    return tuple(out)
