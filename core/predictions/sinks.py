"""The prediction log: every answered prediction (and later feedback), written in batches.

The API appends records in O(1) on the hot path; a background thread writes the pending rows
every `flush_seconds` or once `flush_rows` are pending, and `close()` writes the rest on
shutdown. A failed write keeps the rows for the next flush. Where they go depends on the
destination given to `PredictionLog`:

* a directory (the workspace's `predictions_dir`, the default): Parquet parts. Part names carry
  the UTC flush time and a random suffix, so several API workers can share one directory::

      part-<UTC time>-<uuid8>.parquet            predictions
      feedback/part-<UTC time>-<uuid8>.parquet   actuals, joined back by request id

* a SQLAlchemy URL (anything containing `://`, e.g. `postgresql+psycopg://user@host/db` or
  `sqlite:///log.db`): the tables `predictions` and `prediction_feedback` (created when missing,
  indexed on `request_id` and `time`), one insert transaction per table per flush. `time` is a
  timezone-aware timestamp there; `prediction` and `actual` are text.

`read_predictions`, `read_feedback` and `joined_with_feedback` read either kind of destination
and return the same frames; `prediction_log_source(ws)` is where a workspace's log lives.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.files import atomic_write, utc_now_iso

try:  # the API's JSON library; the log falls back to `json` without it
    import msgspec as _msgspec
except ImportError:  # pragma: no cover - installed with the `api` extra
    _msgspec = None

if TYPE_CHECKING:
    from core.workspace import Workspace

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
        }


PREDICTIONS_TABLE = "predictions"
FEEDBACK_TABLE = "prediction_feedback"
_COLUMNS = {"predictions": PREDICTION_COLUMNS, "feedback": FEEDBACK_COLUMNS}


def is_url(destination: Path | str) -> bool:
    """True when `destination` is a SQLAlchemy URL rather than a folder."""
    return isinstance(destination, str) and "://" in destination


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
        self._sink = _sink(destination)
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
            _utc(time)
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
            written = self._write_or_requeue(rows, "predictions", "_pending", _as_rows)
            self._write_or_requeue(feedback, "feedback", "_feedback")
            return written

    def _write_or_requeue(self, rows: list, kind: str, buffer: str, convert=list) -> int:
        if not rows:
            return 0
        try:
            self._sink.write(convert(rows), kind)
        except Exception:
            log.exception(
                "prediction log flush of %d %s rows to %s failed; will retry",
                len(rows),
                kind,
                self._sink,
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
        self._sink.close()

    def __enter__(self) -> PredictionLog:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _inputs_json(inputs: dict) -> str:
    """Inputs as JSON with sorted keys (msgspec when installed: ~10x faster than `json`)."""
    if _msgspec is not None:
        try:
            return _msgspec.json.encode(inputs, order="sorted").decode()
        except (TypeError, _msgspec.EncodeError):
            pass  # a value msgspec does not know: `json` with `str` for it
    return json.dumps(inputs, default=str, sort_keys=True)


def _as_rows(records: list[PredictionRecord]) -> list[dict]:
    return [r.to_row() for r in records]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _utc(value: str | datetime) -> datetime:
    """An ISO time (or datetime) as an aware UTC datetime; naive means UTC."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cutoff(since: str | None) -> datetime | None:
    if not since:
        return None
    stamp = pd.Timestamp(since)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


class _ParquetSink:
    """Parquet parts under a folder; feedback under `feedback/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __str__(self) -> str:
        return str(self.directory)

    def _folder(self, kind: str) -> Path:
        return self.directory if kind == "predictions" else self.directory / "feedback"

    def write(self, rows: list[dict], kind: str) -> None:
        _write_part(rows, self._folder(kind), _COLUMNS[kind])

    def read(self, kind: str, since: datetime | None = None) -> pd.DataFrame:
        frame = _read_parts(self._folder(kind), _COLUMNS[kind], since)
        if since is not None and not frame.empty:
            frame = frame[pd.to_datetime(frame["time"], utc=True, format="ISO8601") >= since]
        return frame.reset_index(drop=True)

    def close(self) -> None:
        pass


class _SqlSink:
    """Two tables in a SQLAlchemy database, created on the first write."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self.url = sa.engine.make_url(url)
        self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        self.metadata = sa.MetaData()
        self.tables = {
            "predictions": sa.Table(
                PREDICTIONS_TABLE,
                self.metadata,
                _id_column(sa),
                sa.Column("request_id", sa.Text, nullable=False, index=True),
                sa.Column("time", sa.DateTime(timezone=True), nullable=False, index=True),
                sa.Column("model_name", sa.Text),
                sa.Column("model_version", sa.Text),
                sa.Column("variant", sa.Text),
                sa.Column("inputs_json", sa.Text),
                sa.Column("prediction", sa.Text),
                sa.Column("probability", sa.Float),
                sa.Column("latency_ms", sa.Float),
            ),
            "feedback": sa.Table(
                FEEDBACK_TABLE,
                self.metadata,
                _id_column(sa),
                sa.Column("request_id", sa.Text, nullable=False, index=True),
                sa.Column("actual", sa.Text),
                sa.Column("time", sa.DateTime(timezone=True), nullable=False),
            ),
        }
        self._created = False

    def __str__(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def write(self, rows: list[dict], kind: str) -> None:
        values = [_sql_row(row, _COLUMNS[kind]) for row in rows]
        with self.engine.begin() as conn:
            if not self._created:
                self.metadata.create_all(conn)  # checkfirst: existing tables are kept
            conn.execute(self.tables[kind].insert(), values)
        self._created = True

    def read(self, kind: str, since: datetime | None = None) -> pd.DataFrame:
        columns = _COLUMNS[kind]
        table = self.tables[kind]
        query = self._sa.select(*(table.c[c] for c in columns)).order_by(table.c.id)
        if since is not None:
            query = query.where(table.c.time >= since)
        with self.engine.connect() as conn:
            if not self._sa.inspect(conn).has_table(table.name):
                return _empty(columns)
            rows = conn.execute(query).all()
        if not rows:
            return _empty(columns)
        frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
        frame["time"] = frame["time"].map(lambda t: None if t is None else _utc(t).isoformat())
        for col in ("prediction", "actual"):
            if col in frame:
                frame[col] = _numeric_if_possible(frame[col])
        return frame

    def close(self) -> None:
        self.engine.dispose()


def _id_column(sa):
    """Insertion order (`BIGSERIAL` on PostgreSQL, the rowid on SQLite)."""
    kind = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return sa.Column("id", kind, primary_key=True, autoincrement=True)


def _sql_row(row: dict, columns: list[str]) -> dict:
    out = {c: row.get(c) for c in columns}
    out["time"] = _utc(out["time"])
    for col in ("prediction", "actual", "model_version"):
        if col in out and out[col] is not None:
            out[col] = str(out[col])
    for col in ("probability", "latency_ms"):
        if col in out and out[col] is not None:
            out[col] = float(out[col])
    return out


def _numeric_if_possible(values: pd.Series) -> pd.Series:
    """Text predictions / actuals back as numbers when every one is a number (as in Parquet)."""
    try:
        return pd.to_numeric(values)
    except (ValueError, TypeError):
        return values


def _sink(destination: Path | str) -> _ParquetSink | _SqlSink:
    return _SqlSink(destination) if is_url(destination) else _ParquetSink(Path(destination))


def _outcomes(values: list) -> list:
    """A `prediction` / `actual` column: kept when all numbers (or all booleans), else text."""
    kinds = {type(v) for v in values if v is not None}
    if all(issubclass(k, int | float | np.integer | np.floating) for k in kinds) and not (
        kinds & {bool, np.bool_}
    ):
        return values
    if kinds <= {bool, np.bool_}:
        return values
    return [None if v is None else str(v) for v in values]


def _write_part(rows: list[dict], folder: Path, columns: list[str]) -> Path:
    """Write rows as `folder/part-<UTC time>-<uuid8>.parquet` via a temp name and rename.

    Built with pyarrow directly: about 4x less work than through a DataFrame, and this runs in
    the API process while requests are served (it competes with them for the GIL).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {c: [r.get(c) for r in rows] for c in columns}
    for col in ("prediction", "actual"):
        if col in data:
            data[col] = _outcomes(data[col])
    table = pa.table(data)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{datetime.now(UTC).strftime(_STAMP)}-{uuid.uuid4().hex[:8]}.parquet"
    atomic_write(folder / name, lambda tmp: pq.write_table(table, tmp))
    return folder / name


def _read_parts(folder: Path, columns: list[str], since: datetime | None = None) -> pd.DataFrame:
    frames = []
    for part in sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []:
        if since is not None and _part_time(part) < since:
            continue  # flushed before `since`, so every row in it is older
        frames.append(pd.read_parquet(part))
    if not frames:
        return _empty(columns)
    return pd.concat(frames, ignore_index=True)


def _part_time(part: Path) -> datetime:
    return datetime.strptime(part.name.split("-")[1], _STAMP).replace(tzinfo=UTC)


def _reading(source: Path | str) -> closing[_ParquetSink | _SqlSink]:
    """A sink for reading `source`, closed (its engine disposed) on exit."""
    return closing(_sink(source))


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


def prediction_log_url(ws: Workspace) -> str | None:
    """The database URL of the workspace's log, None when it is the Parquet folder.

    `WORKBENCH_PREDICTION_LOG_URL` wins over the config's `serving.prediction_log_url`.
    """
    return ws.config.serving.resolved().prediction_log_url


def prediction_log_source(ws: Workspace) -> Path | str:
    """Where the workspace's prediction log is read from: its URL, else `predictions_dir`."""
    return prediction_log_url(ws) or ws.predictions_dir
