"""Where the prediction log is written: Parquet parts in a folder, or two SQL tables.

* a folder: `date=YYYY-MM-DD/part-<UTC time>-<uuid8>.parquet` for predictions (one part per
  day a flush's rows fall on, by their `time`) and the same under `feedback/` for actuals (in
  the day they are written), each written under a temp name and renamed, so several API
  workers can share one folder and a reader never sees half a part. A read between two times
  opens only the days between them (`window_parts`); flat parts of a log from before date
  folders are read too. A compacted part (`compaction`) lists the parts it replaces in its
  metadata, and readers skip those until they are deleted (`live_parts`);
* a SQLAlchemy URL (see `is_url`): the tables `predictions` and `prediction_feedback`, created
  on the first write, one insert transaction per table per flush. A table made by an older
  version gets the columns it lacks (`ALTER TABLE ... ADD COLUMN`, null in its old rows) on the
  first write; reading never alters a table.

Parts and tables from before a column was added read with that column null.

Both sinks `write(rows, kind)` and `read(kind, since, until)` the same columns (`record.COLUMNS`);
`open_sink` picks one for a destination.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.files import atomic_write
from core.predictions.record import COLUMNS, utc

_STAMP = "%Y%m%dT%H%M%S%fZ"
PARTITION_KEY = "date"
COMPACTED_SUFFIX = "-compacted.parquet"
"""Name ending of a part a compaction made (its metadata lists the parts it replaces)."""
REPLACES_KEY = b"workbench.replaces"
_READ_ATTEMPTS = 5
PREDICTIONS_TABLE = "predictions"
FEEDBACK_TABLE = "prediction_feedback"


def is_url(destination: Path | str) -> bool:
    """True when `destination` is a SQLAlchemy URL rather than a folder."""
    return isinstance(destination, str) and "://" in destination


class PartialWriteError(Exception):
    """A write of rows spanning several days failed after some days' parts were written.

    Attributes:
        unwritten: Indexes (in the rows given) of the rows not written.
    """

    def __init__(self, unwritten: list[int]) -> None:
        super().__init__(f"{len(unwritten)} row(s) not written")
        self.unwritten = unwritten


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


class ParquetSink:
    """Parquet parts in date partitions under a folder; feedback under `feedback/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __str__(self) -> str:
        return str(self.directory)

    def _folder(self, kind: str) -> Path:
        return self.directory if kind == "predictions" else self.directory / "feedback"

    def write(self, rows: list[dict], kind: str) -> None:
        folder = self._folder(kind)
        if kind == "feedback":  # by the day it is written: after the prediction it labels
            _write_part(rows, partition_dir(folder, datetime.now(UTC).date()), COLUMNS[kind])
            return
        days = _by_day(rows)
        for n, (day, index) in enumerate(days.items()):
            try:
                _write_part([rows[i] for i in index], partition_dir(folder, day), COLUMNS[kind])
            except Exception as exc:
                if n == 0:
                    raise
                left = sorted(i for rest in list(days.values())[n:] for i in rest)
                raise PartialWriteError(left) from exc  # the days written stay written

    def read(
        self, kind: str, since: datetime | None = None, until: datetime | None = None
    ) -> pd.DataFrame:
        """Rows of `kind`; predictions with `since <= time <= until`, feedback written since.

        Only the date partitions that can hold such rows are opened (see `window_parts`).
        """
        frame = _read_parts(self._folder(kind), COLUMNS[kind], since, until)
        if kind == "predictions" and not frame.empty and (since or until):
            stamps = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
            keep = np.ones(len(frame), dtype=bool)
            if since is not None:
                keep &= (stamps >= since).to_numpy()
            if until is not None:
                keep &= (stamps <= until).to_numpy()
            frame = frame[keep]
        return frame.reset_index(drop=True)

    def close(self) -> None:
        pass


class SqlSink:
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
                sa.Column("client", sa.Text),
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
        values = [_sql_row(row, COLUMNS[kind]) for row in rows]
        if not self._created:
            self._prepare()
        with self.engine.begin() as conn:
            conn.execute(self.tables[kind].insert(), values)

    def _prepare(self) -> None:
        """Create missing tables and add the columns an older version's tables lack."""
        with self.engine.begin() as conn:
            self.metadata.create_all(conn)  # checkfirst: existing tables are kept
        for table in self.tables.values():
            present = self._columns(table.name)
            for column in (c for c in table.columns if c.name not in present):
                self._add_column(table, column)
        self._created = True

    def _columns(self, table_name: str) -> set[str]:
        with self.engine.connect() as conn:
            return {c["name"] for c in self._sa.inspect(conn).get_columns(table_name)}

    def _add_column(self, table, column) -> None:
        """`ALTER TABLE ... ADD COLUMN` (nullable); a column another writer just added is fine."""
        dialect = self.engine.dialect
        quote = dialect.identifier_preparer
        ddl = (
            f"ALTER TABLE {quote.format_table(table)} ADD COLUMN "
            f"{quote.format_column(column)} {column.type.compile(dialect=dialect)}"
        )
        try:
            with self.engine.begin() as conn:  # its own transaction: a failure aborts only it
                conn.execute(self._sa.text(ddl))
        except self._sa.exc.DBAPIError:
            if column.name not in self._columns(table.name):
                raise

    def read(
        self, kind: str, since: datetime | None = None, until: datetime | None = None
    ) -> pd.DataFrame:
        """Rows of `kind`; predictions with `since <= time <= until` (the indexed `time`).

        Feedback is read whole: its `time` is not indexed and a window joins it by request id.
        """
        columns = COLUMNS[kind]
        table = self.tables[kind]
        with self.engine.connect() as conn:
            inspector = self._sa.inspect(conn)
            if not inspector.has_table(table.name):
                return _empty(columns)
            present = {c["name"] for c in inspector.get_columns(table.name)}
            found = [c for c in columns if c in present]  # an older table may lack some
            query = self._sa.select(*(table.c[c] for c in found)).order_by(table.c.id)
            if kind == "predictions" and since is not None:
                query = query.where(table.c.time >= since)
            if kind == "predictions" and until is not None:
                query = query.where(table.c.time <= until)
            rows = conn.execute(query).all()
        if not rows:
            return _empty(columns)
        frame = pd.DataFrame([tuple(r) for r in rows], columns=found)
        for column in (c for c in columns if c not in found):
            frame[column] = None
        frame["time"] = frame["time"].map(lambda t: None if t is None else utc(t).isoformat())
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
    out["time"] = utc(out["time"])
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


def open_sink(destination: Path | str) -> ParquetSink | SqlSink:
    """The sink of `destination`: a `SqlSink` for a URL, else a `ParquetSink` of the folder."""
    return SqlSink(destination) if is_url(destination) else ParquetSink(Path(destination))


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


def partition_dir(folder: Path, day: date) -> Path:
    """The folder of one UTC day's parts: `folder/date=YYYY-MM-DD` (hive-style)."""
    return folder / f"{PARTITION_KEY}={day.isoformat()}"


def partition_day(path: Path) -> date | None:
    """The day of a partition folder (`date=YYYY-MM-DD`), None for anything else."""
    key, sep, value = path.name.partition("=")
    if key != PARTITION_KEY or not sep:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def partitions(folder: Path) -> dict[date, Path]:
    """The date partitions under `folder`, oldest first."""
    if not folder.is_dir():
        return {}
    found = {}
    for child in folder.iterdir():
        day = partition_day(child)
        if day is not None and child.is_dir():
            found[day] = child
    return dict(sorted(found.items()))


def _row_day(stamp) -> date:
    """The UTC day of a row's time (an ISO string, usually already UTC)."""
    if isinstance(stamp, str) and (stamp.endswith("+00:00") or stamp.endswith("Z")):
        return date.fromisoformat(stamp[:10])
    return utc(stamp).date()


def _by_day(rows: list[dict]) -> dict[date, list[int]]:
    """The indexes of rows per UTC day of their `time`, in their order."""
    days: dict[date, list[int]] = {}
    for i, row in enumerate(rows):
        days.setdefault(_row_day(row["time"]), []).append(i)
    return days


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
    path = folder / part_name()
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return path


def part_name(at: datetime | None = None) -> str:
    """`part-<UTC time>-<uuid8>.parquet`: sorts by write time, unique across processes."""
    return f"part-{(at or datetime.now(UTC)).strftime(_STAMP)}-{uuid.uuid4().hex[:8]}.parquet"


def replaced_by(part: Path) -> list[str]:
    """The part names a compacted part replaces (its Parquet metadata), [] for a plain part."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(part).metadata or {}
    names = meta.get(REPLACES_KEY)
    return json.loads(names) if names else []


def live_parts(folder: Path) -> list[Path]:
    """The parts of one folder a reader uses: every part but those a compacted part replaces.

    A compaction writes the merged part (naming the parts it replaces in its metadata) before
    it deletes them, so between the two a reader skips them and counts no row twice.
    """
    return list_parts(folder)[0]


def list_parts(folder: Path) -> tuple[list[Path], list[Path]]:
    """(live parts, replaced parts still present) of one folder, from one listing."""
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    replaced: set[str] = set()
    for part in parts:
        if part.name.endswith(COMPACTED_SUFFIX):
            replaced.update(replaced_by(part))
    return [p for p in parts if p.name not in replaced], [p for p in parts if p.name in replaced]


def window_parts(
    folder: Path, since: datetime | None = None, until: datetime | None = None
) -> list[Path]:
    """The part files a read of `folder` between `since` and `until` opens, oldest day first.

    The date partitions from `since`'s UTC day to `until`'s, and the flat parts of a log
    written before partitions (directly in `folder`) flushed at or after `since`.
    """
    first = since.astimezone(UTC).date() if since is not None else None
    last = until.astimezone(UTC).date() if until is not None else None
    files = [
        p
        for p in live_parts(folder)  # flat: a log from before date partitions
        if since is None or part_time(p) >= since  # flushed before `since`: all rows older
    ]
    for day, path in partitions(folder).items():
        if (first is None or day >= first) and (last is None or day <= last):
            files.extend(live_parts(path))
    return files


def _read_parts(
    folder: Path,
    columns: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Every row of the parts `window_parts` names, as one frame.

    A part deleted between listing and reading (a compaction replaced it, retention removed
    its day) makes the read start over from a fresh listing.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for attempt in range(_READ_ATTEMPTS):
        tables = []
        try:
            for part in window_parts(folder, since, until):
                table = pq.read_table(part)
                for column in columns:
                    if column not in table.column_names:  # written before the column existed
                        table = table.append_column(column, pa.nulls(len(table)))
                tables.append(table.select(columns))
        except FileNotFoundError:
            if attempt == _READ_ATTEMPTS - 1:
                raise
            continue
        break
    if not tables:
        return _empty(columns)
    frames = [t.to_pandas() for t in tables]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def part_time(part: Path) -> datetime:
    """When a part was written (the UTC time in its name); every row in it was logged before."""
    return datetime.strptime(part.name.split("-")[1], _STAMP).replace(tzinfo=UTC)
