"""`PredictionLog`: queues records on the request path, writes them in batches off it.

`append` and `record_feedback` only take a lock and extend a list; a daemon thread flushes
every `flush_seconds` (or sooner once `flush_rows` are pending) to the sink of the destination
(see `core.predictions.sinks`), and rows of a failed write go back to the queue.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.files import utc_now_iso
from core.predictions.record import PredictionRecord, as_rows, utc
from core.predictions.sinks import PartialWriteError, is_url, open_sink

log = logging.getLogger(__name__)


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
        self._pending: list[PredictionRecord] = []
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
            full = len(self._pending) >= self.flush_rows
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
        """Write all pending predictions as one batch (and feedback as another).

        On failure the rows are put back for the next flush and the error is logged.

        Returns:
            Prediction rows written.
        """
        with self._flush_lock:
            with self._lock:
                rows, self._pending = self._pending, []
                feedback, self._feedback = self._feedback, []
            written = self._write_or_requeue(rows, "predictions", "_pending", as_rows)
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
