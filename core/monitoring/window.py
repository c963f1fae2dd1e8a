"""The current data of a check: a window of the prediction log, or any file.

A log window holds the champion's predictions of the last N hours/days or the last N of them
(canary rows, answered by the challenger, and shadow scores are left out: `champion_rows`; they
are compared with the champion's in `core.monitoring.variants`; smoke-test rows, variant
`smoke`, are not real traffic and no reader counts them): their input records decoded
into columns as clients sent them (JSON values, timestamps as ISO-8601 strings), the date parts
and engineered columns of the workspace's `features` section added where a record has their
sources (a check recomputes the ones its reference profiles, `ReferenceProfile.prepare`),
`prediction`, `probability`, and the target column filled from feedback (the latest actual per
request id, plus an optional labels file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from core.config.monitoring import check_window
from core.errors import WorkbenchError
from core.monitoring.inputs import derive_columns
from core.workspace import Workspace

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
META_COLUMNS = ["request_id", "time", "model_name", "model_version", "variant"]
CHAMPION = "champion"
SMOKE = "smoke"
"""The variant of smoke-test requests (`core.deploy.smoke`): logged, never counted as traffic."""


class WindowError(WorkbenchError):
    """A window, a current file or a labels file cannot be used (the message says why)."""


@dataclass
class Window:
    """The rows a check looks at, and where they came from."""

    frame: pd.DataFrame
    label: str
    """For humans: `last 24h of the prediction log`, `file current.csv`."""
    source: str
    """`log` or `file`."""
    start: str | None = None
    end: str | None = None

    @property
    def labelled(self) -> int:
        return int(self.frame.attrs.get("labelled", 0))


def parse_window(text: str) -> tuple[str, float | int | None]:
    """`("duration", seconds)`, `("rows", n)` or `("all", None)`; `WindowError` otherwise."""
    try:
        value = check_window(text)
    except ValueError as exc:
        raise WindowError(str(exc)) from None
    if value == "all":
        return "all", None
    if value.isdigit():
        return "rows", int(value)
    match = re.match(r"^([\d.]+)([mhdw])$", value)
    seconds = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))}).total_seconds()
    return "duration", seconds


def describe(text: str) -> str:
    """`last 24h`, `last 5,000 predictions` or `whole log`."""
    kind, value = parse_window(text)
    if kind == "rows":
        return f"last {value:,} predictions"
    return "whole log" if kind == "all" else f"last {text}"


def decode_inputs(inputs_json: pd.Series) -> pd.DataFrame:
    """The logged input records as columns (one row per prediction, same index)."""
    records = [json.loads(s) if isinstance(s, str) else {} for s in inputs_json]
    return pd.DataFrame.from_records(records, index=inputs_json.index)


def latest_actuals(feedback: pd.DataFrame) -> pd.Series:
    """The newest actual per request id (feedback can be corrected by a later post)."""
    if feedback.empty:
        return pd.Series(dtype=object, name="actual")
    stamp = pd.to_datetime(feedback["time"], utc=True, format="ISO8601")
    latest = feedback.assign(_t=stamp).sort_values("_t", kind="stable")
    return latest.drop_duplicates("request_id", keep="last").set_index("request_id")["actual"]


def read_file(path: Path, what: str = "file") -> pd.DataFrame:
    """A CSV / Parquet file as a frame; `WorkbenchError` naming the file when it cannot be."""
    from core.data.readers import read_table

    path = Path(path)
    if not path.is_file():
        raise WindowError(f"{path}: no such {what}")
    return read_table(path)


def read_label_rows(path: Path) -> pd.DataFrame:
    """`request_id`, `actual` (and `time` when the file has it) of a labels file.

    Raises:
        WindowError: The file is missing or unreadable, lacks a column, has a row without an
            actual, or a `time` that is not a time (the message names the file and the rows).
    """
    frame = read_file(path, "labels file")
    missing = [c for c in ("request_id", "actual") if c not in frame.columns]
    if missing:
        raise WindowError(f"{path}: labels file lacks column(s) {', '.join(missing)}")
    frame = frame.dropna(subset=["request_id"]).assign(
        request_id=lambda f: f["request_id"].astype(str)
    )
    empty = frame.index[frame["actual"].isna()]
    if len(empty):
        raise WindowError(f"{path}: column 'actual' is empty in data row(s) {_rows(empty)}")
    columns = ["request_id", "actual"]
    if "time" in frame.columns:
        stamps = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
        bad = frame.index[stamps.isna() & frame["time"].notna()]
        if len(bad):
            raise WindowError(
                f"{path}: column 'time' is not an ISO time in data row(s) {_rows(bad)}"
            )
        frame = frame.assign(time=[None if pd.isna(t) else t.isoformat() for t in stamps])
        columns.append("time")
    return frame[columns].drop_duplicates("request_id", keep="last").reset_index(drop=True)


def read_labels(path: Path) -> pd.Series:
    """A labels file (CSV / Parquet with `request_id` and `actual`) as actual by request id."""
    rows = read_label_rows(path)
    return rows.set_index("request_id")["actual"]


def variants(log: pd.DataFrame) -> pd.Series:
    """Each logged row's variant; a missing or empty one (a log older than variants) is champion."""
    if "variant" not in log:
        return pd.Series(CHAMPION, index=log.index, dtype=object)
    named = log["variant"].where(log["variant"].notna(), "").astype(str).str.strip()
    return named.where(named != "", CHAMPION)


def champion_rows(log: pd.DataFrame) -> pd.DataFrame:
    """The rows the champion answered: what drift and performance windows look at."""
    return log[variants(log) == CHAMPION]


def _rows(index: pd.Index) -> str:
    """1-based data row numbers (the first five, then how many more)."""
    shown = ", ".join(str(i + 1) for i in index[:5])
    return shown + (f" and {len(index) - 5} more" if len(index) > 5 else "")


def log_window(
    ws: Workspace,
    window: str | None = None,
    labels: pd.Series | None = None,
    now: datetime | None = None,
) -> Window:
    """The champion's rows of a window of the prediction log, records decoded, actuals joined.

    Args:
        ws: The workspace (its prediction log, target column and default window).
        window: `24h`, `7d`, `5000` (rows) or `all`; default `monitoring.window`.
        labels: Extra actuals by request id (a labels file); they win over logged feedback.
        now: The end of a duration window (default: now).
    """
    text = window or ws.config.monitoring.window
    kind, value = parse_window(text)
    end = now or datetime.now(UTC)
    since = (end - timedelta(seconds=value)).isoformat() if kind == "duration" else None
    rows = value if kind == "rows" else None
    return _log_rows(ws, since, end, rows, labels, f"{describe(text)} of the prediction log")


def log_between(ws: Workspace, start: str, end: str, label: str) -> Window:
    """The prediction log's rows from `start` to `end` (ISO times, both included).

    These are the rows an earlier check of a window saw; actuals are joined as they are now.
    """
    return _log_rows(ws, start, pd.Timestamp(end).to_pydatetime(), None, None, label)


def _log_rows(ws, since: str | None, end: datetime, rows: int | None, labels, label) -> Window:
    from core.predictions.readers import prediction_log_source, read_feedback, read_predictions

    source = prediction_log_source(ws)
    log = read_predictions(source, since=since, until=end)  # only the window's days are read
    log = champion_rows(log)
    if not log.empty:
        log = log.assign(_t=pd.to_datetime(log["time"], utc=True, format="ISO8601"))
        log = log[log["_t"] <= pd.Timestamp(end)].sort_values("_t", kind="stable")
        if rows is not None:
            log = log.tail(rows)
    feedback = read_feedback(source, written_since=since)  # labels come after predictions
    frame = _frame(log, ws.config.target, latest_actuals(feedback), labels)
    frame = derive_columns(frame, ws.config.features.model_dump(), overwrite=False)
    return Window(
        frame,
        label,
        "log",
        start=None if log.empty else log["_t"].iloc[0].isoformat(),
        end=None if log.empty else log["_t"].iloc[-1].isoformat(),
    )


def _frame(log: pd.DataFrame, target: str, actuals: pd.Series, labels) -> pd.DataFrame:
    log = log.reset_index(drop=True)
    features = decode_inputs(log["inputs_json"]) if not log.empty else pd.DataFrame()
    features = features.drop(columns=[c for c in features.columns if c in log.columns])
    frame = pd.concat(
        [features, log[[*META_COLUMNS, "prediction", "probability"]]], axis=1
    ).reset_index(drop=True)
    if labels is not None and len(labels):
        actuals = pd.concat([actuals[~actuals.index.isin(labels.index)], labels])
    frame[target] = frame["request_id"].astype(str).map(actuals) if len(frame) else []
    frame.attrs["labelled"] = int(frame[target].notna().sum()) if len(frame) else 0
    return frame


def file_window(path: Path, target: str | None = None) -> Window:
    """Any CSV / Parquet file as the current data (target and prediction columns optional)."""
    frame = read_file(path, "current file")
    if target and target in frame:
        frame.attrs["labelled"] = int(frame[target].notna().sum())
    return Window(frame, f"file {Path(path).name}", "file")
