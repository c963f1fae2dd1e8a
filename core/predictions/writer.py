"""`PredictionLog`: queues requests on the request path, makes and writes their rows off it.

`append_request` takes one `LoggedRequest` per answered request (the decoded inputs as they
are, the answers, a few strings): a lock and a list append, with no per-record object and no
serialization on the event loop. `append` takes ready `PredictionRecord`s, and `record_feedback`
an actual. A daemon thread flushes every `flush_seconds` (or sooner once `flush_rows` rows are
pending): it expands the requests into records, serializes them and writes them to the sink of
the destination (see `core.predictions.sinks`); rows of a failed write go back to the queue.
`close` (the API's shutdown) writes everything still queued.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.files import utc_now_iso
from core.predictions.record import PredictionRecord, as_rows, utc
from core.predictions.sinks import PartialWriteError, is_url, open_sink

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LoggedRequest:
    """One answered request as the log keeps it until a flush makes its records.

    Attributes:
        request_id: Id of the request (every record of it shares it).
        time: When it was answered: Unix seconds (`time.time()`, made into the UTC ISO time
            with milliseconds by the flush thread) or a UTC ISO time.
        model_name: Registered model name.
        model_version: Its version.
        variant: "champion", "challenger" (canary) or "shadow".
        columns: The field names of `inputs` rows; None when `inputs` are mappings.
        inputs: The scored records: mappings, or value lists in `columns` order. Kept as they
            are (not copied): the caller must not change them after handing them over.
        predictions: One prediction per record.
        probabilities: One probability per record, or None (see `PredictionRecord`).
        latency_ms: Model latency per record in milliseconds.
        client: Name of the API key that asked, or None.
    """

    request_id: str
    time: float | str
    model_name: str
    model_version: str
    variant: str
    columns: list[str] | None
    inputs: list
    predictions: list
    probabilities: list | None
    latency_ms: float | None
    client: str | None

    def __len__(self) -> int:
        return len(self.inputs)

    def records(self) -> list[PredictionRecord]:
        """One `PredictionRecord` per scored record (made in the flush thread)."""
        inputs = self.inputs
        if self.columns is not None:
            columns = self.columns
            inputs = [dict(zip(columns, row, strict=True)) for row in inputs]
        proba = self.probabilities
        when = self.time
        if not isinstance(when, str):
            when = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
        head = (self.request_id, when, self.model_name, self.model_version, self.variant)
        return [
            PredictionRecord(
                *head, rec, pred, None if proba is None else proba[i], self.latency_ms, self.client
            )
            for i, (rec, pred) in enumerate(zip(inputs, self.predictions, strict=True))
        ]


def _expanded(items: list) -> list[PredictionRecord]:
    """The records of queued items (`PredictionRecord`s and `LoggedRequest`s), in order."""
    records: list[PredictionRecord] = []
    for item in items:
        if isinstance(item, LoggedRequest):
            records.extend(item.records())
        else:
            records.append(item)
    return records


class PredictionLog:
    """Batched, thread-safe writer of predictions and feedback.

    Args:
        destination: Folder of Parquet parts (usually `Workspace.predictions_dir`) or a
            SQLAlchemy URL (see the module docstring).
        flush_rows: Pending rows that wake the background thread early.
        flush_seconds: Longest time between background flushes.
    """

    def __init__(
        self, destination: Path | str, flush_rows: int = 1000, flush_seconds: float = 2.0
    ) -> None:
        self.destination = destination if is_url(destination) else Path(destination)
        self.directory = None if is_url(destination) else self.destination  # None: a database
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._sink = open_sink(destination)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: list[PredictionRecord | LoggedRequest] = []
        self._pending_rows = 0
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
        with self._lock:  # serialized by the flush thread, off the request path
            self._pending.extend(records)
            self._pending_rows += len(records)
            full = self._pending_rows >= self.flush_rows
        if full:
            self._wake.set()

    def append_request(self, request: LoggedRequest) -> None:
        """Queue one answered request; its records are made and written by the next flush.

        Args:
            request: The request (see `LoggedRequest`; its lists must not change afterwards).
        """
        with self._lock:
            self._pending.append(request)
            self._pending_rows += len(request)
            full = self._pending_rows >= self.flush_rows
        if full:
            self._wake.set()

    def record_feedback(self, request_id: str, actual, time: str | None = None) -> None:
        """Queue the actual outcome of a request; written with the next flush.

        Args:
            request_id: Id of the answered request.
            actual: The observed value or label.
            time: UTC ISO time of the feedback (now when omitted).

        Raises:
            ValueError: `time` is not an ISO time (it would fail every later flush).
        """
        if time is not None:
            utc(time)
        row = {"request_id": request_id, "actual": actual, "time": time or utc_now_iso()}
        with self._lock:
            self._feedback.append(row)

    @property
    def pending(self) -> int:
        """Prediction rows waiting to be written."""
        with self._lock:
            return self._pending_rows

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
        """Write all pending predictions as one batch (and feedback as another).

        On failure the rows are put back for the next flush and the error is logged.

        Returns:
            Prediction rows written.
        """
        with self._flush_lock:
            with self._lock:
                items, self._pending, self._pending_rows = self._pending, [], 0
                feedback, self._feedback = self._feedback, []
            written = self._write_or_requeue(_expanded(items), "predictions", "_pending", as_rows)
            self._write_or_requeue(feedback, "feedback", "_feedback")
            return written

    def _write_or_requeue(self, rows: list, kind: str, buffer: str, convert=list) -> int:
        if not rows:
            return 0
        try:
            self._sink.write(convert(rows), kind)
        except Exception as exc:
            if isinstance(exc, PartialWriteError):  # only the days not written go back
                written = len(rows) - len(exc.unwritten)
                rows = [rows[i] for i in exc.unwritten]
            else:
                written = 0
            log.exception(
                "prediction log flush of %d %s rows to %s failed; will retry",
                len(rows),
                kind,
                self._sink,
            )
            with self._lock:
                setattr(self, buffer, rows + getattr(self, buffer))
                if buffer == "_pending":
                    self._pending_rows += len(rows)
            return written
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
        self._sink.close()

    def __enter__(self) -> PredictionLog:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
