"""Where the prediction log is written: Parquet parts in a folder, or two SQL tables.

* a folder: `part-<UTC time>-<uuid8>.parquet` for predictions and the same under `feedback/`
  for actuals, each written under a temp name and renamed, so several API workers can share one
  folder and a reader never sees half a part;
* a SQLAlchemy URL (see `is_url`): the tables `predictions` and `prediction_feedback`, created
  on the first write, one insert transaction per table per flush. A table made by an older
  version gets the columns it lacks (`ALTER TABLE ... ADD COLUMN`, null in its old rows) on the
  first write; reading never alters a table.

Parts and tables from before a column was added read with that column null.

Both sinks `write(rows, kind)` and `read(kind, since)` the same columns (`record.COLUMNS`);
`open_sink` picks one for a destination.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.files import atomic_write
from core.predictions.record import COLUMNS, utc

_STAMP = "%Y%m%dT%H%M%S%fZ"
PREDICTIONS_TABLE = "predictions"
FEEDBACK_TABLE = "prediction_feedback"


def is_url(destination: Path | str) -> bool:
    """True when `destination` is a SQLAlchemy URL rather than a folder."""
    return isinstance(destination, str) and "://" in destination


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


class ParquetSink:
    """Parquet parts under a folder; feedback under `feedback/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __str__(self) -> str:
        return str(self.directory)

    def _folder(self, kind: str) -> Path:
        return self.directory if kind == "predictions" else self.directory / "feedback"

    def write(self, rows: list[dict], kind: str) -> None:
        _write_part(rows, self._folder(kind), COLUMNS[kind])

    def read(self, kind: str, since: datetime | None = None) -> pd.DataFrame:
        frame = _read_parts(self._folder(kind), COLUMNS[kind], since)
        if since is not None and not frame.empty:
            frame = frame[pd.to_datetime(frame["time"], utc=True, format="ISO8601") >= since]
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

    def read(self, kind: str, since: datetime | None = None) -> pd.DataFrame:
        columns = COLUMNS[kind]
        table = self.tables[kind]
        with self.engine.connect() as conn:
            inspector = self._sa.inspect(conn)
            if not inspector.has_table(table.name):
                return _empty(columns)
            present = {c["name"] for c in inspector.get_columns(table.name)}
            found = [c for c in columns if c in present]  # an older table may lack some
            query = self._sa.select(*(table.c[c] for c in found)).order_by(table.c.id)
            if since is not None:
                query = query.where(table.c.time >= since)
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
        frame = pd.read_parquet(part)
        for column in columns:
            if column not in frame:  # a part written before the column existed
                frame[column] = None
        frames.append(frame)
    if not frames:
        return _empty(columns)
    return pd.concat(frames, ignore_index=True)


def _part_time(part: Path) -> datetime:
    return datetime.strptime(part.name.split("-")[1], _STAMP).replace(tzinfo=UTC)
