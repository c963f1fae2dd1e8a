"""The prediction log: every answered prediction (and later feedback) as Parquet parts.

The API appends records in O(1) on the hot path; a background thread writes the pending rows
as one new Parquet part every `flush_seconds` or once `flush_rows` are pending, and `close()`
writes the rest on shutdown. Part names carry the UTC flush time and a random suffix, so several
API workers can share one directory. Layout under `directory` (the workspace's
`predictions_dir`)::

    part-<UTC time>-<uuid8>.parquet            predictions
    feedback/part-<UTC time>-<uuid8>.parquet   actuals, joined back by request id
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

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
]
FEEDBACK_COLUMNS = ["request_id", "actual", "time"]
_STAMP = "%Y%m%dT%H%M%S%fZ"


def _now() -> str:
    return datetime.now(UTC).isoformat()


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
        probability: Probability of the predicted class, when there is one.
        latency_ms: Model latency in milliseconds.
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

    def to_row(self) -> dict:
        """The record as a Parquet row, inputs serialized to `inputs_json`."""
        row = asdict(self)
        row["inputs_json"] = json.dumps(row.pop("inputs"), default=str, sort_keys=True)
        return row


class PredictionLog:
    """Batched, thread-safe writer of prediction and feedback parts.

    Args:
        directory: Folder of the log (usually `Workspace.predictions_dir`).
        flush_rows: Pending rows that wake the background thread early.
        flush_seconds: Longest time between background flushes.
    """

    def __init__(self, directory: Path, flush_rows: int = 1000, flush_seconds: float = 2.0) -> None:
        self.directory = Path(directory)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: list[dict] = []
        self._feedback: list[dict] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def append(self, records: list[PredictionRecord]) -> None:
        """Queue records for the next flush; never does I/O.

        Args:
            records: Predictions to log.
        """
        rows = [r.to_row() for r in records]
        with self._lock:
            self._pending.extend(rows)
            full = len(self._pending) >= self.flush_rows
        if full:
            self._wake.set()

    def record_feedback(self, request_id: str, actual, time: str | None = None) -> None:
        """Queue the actual outcome of a request; written with the next flush.

        Args:
            request_id: Id of the answered request.
            actual: The observed value or label.
            time: UTC ISO time of the feedback (now when omitted).
        """
        row = {"request_id": request_id, "actual": actual, "time": time or _now()}
        with self._lock:
            self._feedback.append(row)

    @property
    def pending(self) -> int:
        """Prediction rows waiting to be written."""
        with self._lock:
            return len(self._pending)

    def start(self) -> None:
        """Start the background flush thread (no-op when running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

    def flush(self) -> int:
        """Write all pending rows as one new part (and feedback as another).

        On failure the rows are put back for the next flush and the error is logged.

        Returns:
            Prediction rows written.
        """
        with self._flush_lock:
            with self._lock:
                rows, self._pending = self._pending, []
                feedback, self._feedback = self._feedback, []
            written = self._write_or_requeue(rows, self.directory, PREDICTION_COLUMNS, "_pending")
            self._write_or_requeue(
                feedback, self.directory / "feedback", FEEDBACK_COLUMNS, "_feedback"
            )
            return written

    def _write_or_requeue(
        self, rows: list[dict], folder: Path, columns: list[str], buffer: str
    ) -> int:
        if not rows:
            return 0
        try:
            _write_part(rows, folder, columns)
        except Exception:
            log.exception(
                "prediction log flush of %d rows to %s failed; will retry", len(rows), folder
            )
            with self._lock:
                setattr(self, buffer, rows + getattr(self, buffer))
            return 0
        return len(rows)

    def close(self) -> None:
        """Stop the background thread and write what is pending (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def __enter__(self) -> PredictionLog:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _write_part(rows: list[dict], folder: Path, columns: list[str]) -> Path:
    """Write rows as `folder/part-<UTC time>-<uuid8>.parquet` via a temp name and rename."""
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("prediction", "actual"):
        if col in frame and frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{datetime.now(UTC).strftime(_STAMP)}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = folder / f".{name}.tmp"
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)
    return folder / name


def _read_parts(folder: Path, columns: list[str], since: datetime | None = None) -> pd.DataFrame:
    frames = []
    for part in sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []:
        if since is not None and _part_time(part) < since:
            continue  # flushed before `since`, so every row in it is older
        frames.append(pd.read_parquet(part))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True)


def _part_time(part: Path) -> datetime:
    return datetime.strptime(part.name.split("-")[1], _STAMP).replace(tzinfo=UTC)


def read_predictions(directory: Path, since: str | None = None) -> pd.DataFrame:
    """All logged predictions, oldest part first.

    Args:
        directory: Folder of the log.
        since: UTC ISO time; only predictions at or after it are returned.

    Returns:
        One row per prediction with `PREDICTION_COLUMNS` (empty frame when none).
    """
    cutoff = pd.Timestamp(since) if since else None
    if cutoff is not None:
        cutoff = cutoff.tz_localize(UTC) if cutoff.tzinfo is None else cutoff.tz_convert(UTC)
    frame = _read_parts(
        Path(directory), PREDICTION_COLUMNS, cutoff.to_pydatetime() if cutoff else None
    )
    if cutoff is not None and not frame.empty:
        frame = frame[pd.to_datetime(frame["time"], utc=True, format="ISO8601") >= cutoff]
    return frame.reset_index(drop=True)


def read_feedback(directory: Path) -> pd.DataFrame:
    """All logged feedback rows (`request_id`, `actual`, `time`)."""
    return _read_parts(Path(directory) / "feedback", FEEDBACK_COLUMNS)


def joined_with_feedback(directory: Path) -> pd.DataFrame:
    """Predictions left-joined with the latest actual per request id.

    Returns:
        The predictions plus `actual` and `feedback_time` (missing when no feedback yet).
    """
    predictions = read_predictions(directory)
    feedback = read_feedback(directory)
    if not feedback.empty:
        feedback = feedback.assign(_t=pd.to_datetime(feedback["time"], utc=True, format="ISO8601"))
        feedback = feedback.sort_values("_t", kind="stable").drop_duplicates(
            "request_id", keep="last"
        )
    latest = feedback[["request_id", "actual", "time"]].rename(columns={"time": "feedback_time"})
    return predictions.merge(latest, on="request_id", how="left")
