"""Compaction and retention of a Parquet prediction log.

The API writes one small part per flush into the day's partition (`date=YYYY-MM-DD/`), so a
busy day holds hundreds of parts. `compact_log` merges the parts of each closed day (before
today, UTC) into one and, with `keep_days`, removes the days older than that:

* a merged part is written beside the parts (temp name, then rename) with the names of the
  parts it replaces in its Parquet metadata, and only then are those parts deleted; a reader
  listing the folder in between skips the replaced parts (`sinks.live_parts`), and a reader
  that lost a part it had listed starts over, so no row is read twice or lost;
* a part written while a day is compacted (a late flush) is not in the list, so it is kept as
  it is and merged by the next run; the open day (today) is never compacted;
* one compaction at a time per log (a lock file), the scheduler's daily job or a manual run;
* retention deletes whole partitions (predictions by their time's day, feedback by the day it
  was written), and the flat parts of a log from before partitions once they were flushed
  before the first kept day. Flat parts are otherwise left as they are: they stay readable.
"""

from __future__ import annotations

import fcntl
import json
import logging
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.files import atomic_write
from core.predictions.sinks import (
    COMPACTED_SUFFIX,
    REPLACES_KEY,
    list_parts,
    part_time,
    partitions,
)

if TYPE_CHECKING:
    from core.workspace import Workspace

log = logging.getLogger(__name__)
LOCK_FILE = ".compaction.lock"


@dataclass
class CompactionSummary:
    """What one run did, per kind of row (`predictions`, `feedback`)."""

    days_compacted: int = 0
    parts_before: int = 0
    parts_after: int = 0
    rows: int = 0
    days_removed: list[str] = field(default_factory=list)
    flat_parts_removed: int = 0

    def add(self, other: CompactionSummary) -> None:
        self.days_compacted += other.days_compacted
        self.parts_before += other.parts_before
        self.parts_after += other.parts_after
        self.rows += other.rows
        self.days_removed = sorted(set(self.days_removed) | set(other.days_removed))
        self.flat_parts_removed += other.flat_parts_removed


@contextmanager
def _locked(directory: Path):
    """Hold the log's compaction lock (waits for another run to finish)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _merged(parts: list[Path]):
    """The rows of `parts` as one table, in part order; conflicting column types become text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in parts]
    names = list(dict.fromkeys(c for t in tables for c in t.column_names))
    aligned = []
    for table in tables:
        for name in names:
            if name not in table.column_names:  # a part from before the column existed
                table = table.append_column(name, pa.nulls(len(table)))
        aligned.append(table.select(names))
    try:
        return pa.concat_tables(aligned, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # e.g. numeric predictions in one part, text in another: all as text
    types = {n: {t.schema.field(n).type for t in aligned} - {pa.null()} for n in names}
    mixed = [n for n, kinds in types.items() if len(kinds) > 1]
    for n in mixed:
        aligned = [t.set_column(t.column_names.index(n), n, _as_text(t.column(n))) for t in aligned]
    return pa.concat_tables(aligned, promote_options="permissive")


def _as_text(column):
    import pyarrow as pa

    values = column.to_pylist()
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def compact_partition(folder: Path) -> tuple[int, int, int]:
    """Merge the live parts of one partition into one part.

    Returns:
        (parts before, parts after, rows merged); rows is 0 when there was nothing to merge.
    """
    import pyarrow.parquet as pq

    live, replaced = list_parts(folder)
    for part in replaced:  # left behind by a run that stopped before deleting them
        part.unlink(missing_ok=True)
    if len(live) <= 1:
        return len(live), len(live), 0
    table = _merged(live)
    meta = dict(table.schema.metadata or {})
    meta[REPLACES_KEY] = json.dumps([p.name for p in live]).encode()
    table = table.replace_schema_metadata(meta)
    stamp = live[0].name.split("-")[1]  # sorts where the oldest part it replaces did
    name = f"part-{stamp}-{_suffix()}{COMPACTED_SUFFIX}"
    atomic_write(folder / name, lambda tmp: pq.write_table(table, tmp))
    for part in live:
        part.unlink(missing_ok=True)
    return len(live), 1, table.num_rows


def _suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def _compact_folder(folder: Path, today: date, keep_days: int | None) -> CompactionSummary:
    summary = CompactionSummary()
    first_kept = today - timedelta(days=keep_days) if keep_days is not None else None
    for day, path in partitions(folder).items():
        if first_kept is not None and day < first_kept:
            shutil.rmtree(path, ignore_errors=True)
            summary.days_removed.append(day.isoformat())
            continue
        if day >= today:
            continue  # the open day: still written to
        before, after, rows = compact_partition(path)
        summary.parts_before += before
        summary.parts_after += after
        if rows:
            summary.days_compacted += 1
            summary.rows += rows
    if first_kept is not None:
        cutoff = datetime.combine(first_kept, time(), UTC)
        for part in folder.glob("part-*.parquet") if folder.is_dir() else []:
            if part_time(part) < cutoff:  # flushed before the first kept day: all rows older
                part.unlink(missing_ok=True)
                summary.flat_parts_removed += 1
    return summary


def compact_log(
    directory: Path, keep_days: int | None = None, today: date | None = None
) -> dict[str, CompactionSummary]:
    """Compact the closed days of a Parquet log and apply retention.

    Args:
        directory: The log's folder (`Workspace.predictions_dir`).
        keep_days: Days kept before today (UTC); older partitions are deleted. None keeps all.
        today: The open day (default: today, UTC); days before it are compacted.

    Returns:
        A summary per kind: `predictions` and `feedback`.

    Raises:
        ValueError: `keep_days` is negative.
    """
    if keep_days is not None and keep_days < 0:
        raise ValueError(f"keep_days must be 0 or more, got {keep_days}")
    directory = Path(directory)
    today = today or datetime.now(UTC).date()
    with _locked(directory):
        return {
            "predictions": _compact_folder(directory, today, keep_days),
            "feedback": _compact_folder(directory / "feedback", today, keep_days),
        }


def compaction_step(ws: Workspace, today: date | None = None) -> dict:
    """The scheduler's `prediction_log_compaction` job over a workspace's log.

    Returns:
        A summary: `status` (`ok`, or `skipped` for a database log), `message`, and per kind
        the days compacted, parts before and after, and the days removed.
    """
    from core.predictions.readers import prediction_log_url

    url = prediction_log_url(ws)
    if url:
        return {
            "status": "skipped",
            "message": "the prediction log is a database (serving.prediction_log_url): "
            "nothing to compact",
        }
    keep_days = ws.config.serving.prediction_log_keep_days
    result = compact_log(ws.predictions_dir, keep_days, today)
    total = CompactionSummary()
    for part in result.values():
        total.add(part)
    kept = "every day kept" if keep_days is None else f"{len(total.days_removed)} day(s) removed"
    message = (
        f"compacted {total.days_compacted} partition(s): {total.parts_before} -> "
        f"{total.parts_after} part(s); {kept}"
    )
    log.info("prediction log %s: %s", ws.predictions_dir, message)
    return {"status": "ok", "message": message} | {k: asdict(v) for k, v in result.items()}
