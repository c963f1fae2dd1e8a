"""Labels become data: labelled predictions exported as a batch into the landing folder.

A prediction whose actual arrived (POST /feedback, `workbench labels FILE`) at least
`sources.feedback.label_delay` ago becomes one training row: its logged raw inputs plus the
actual under the config's `target` (and the time column, from the prediction's time when the
inputs lack it). The rows go to `landing/feedback-<UTC time>.csv`, where the data pipeline
ingests, validates and versions them like any batch.

A row is never exported twice: the request ids already exported are kept in
`.workbench/feedback_exported.txt` (written after the batch file, so a crash in between can at
worst repeat rows the pipeline's duplicate check then drops).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from core.files import atomic_write, utc_now
from core.monitoring.window import decode_inputs
from core.predictions.readers import labelled_predictions, prediction_log_source
from core.workspace import Workspace


def exported_path(ws: Workspace):
    """Where the exported request ids are kept (one per line)."""
    return ws.state / "feedback_exported.txt"


def exported_ids(ws: Workspace) -> set[str]:
    """Request ids already exported as training rows."""
    path = exported_path(ws)
    if not path.is_file():
        return set()
    return {line for line in path.read_text(encoding="utf-8").splitlines() if line}


def _mark_exported(ws: Workspace, ids: list[str]) -> None:
    path = exported_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(f"{i}\n" for i in ids))


def _plain_target(actual: pd.Series) -> pd.Series:
    """Actuals as numbers when they all are (integers when whole), else as given."""
    numbers = pd.to_numeric(actual, errors="coerce")
    if numbers.notna().all():
        whole = (numbers % 1 == 0).all()
        return numbers.astype("int64") if whole else numbers
    return actual


def labelled_batch(ws: Workspace, rows: pd.DataFrame) -> pd.DataFrame:
    """The training rows of labelled predictions: raw inputs, target, time column."""
    cfg = ws.config
    batch = decode_inputs(rows["inputs_json"])
    batch[cfg.target] = _plain_target(rows["actual"]).to_numpy()
    if cfg.time_column and cfg.time_column not in batch:
        batch[cfg.time_column] = rows["time"].to_numpy()
    return batch


def export_labels(ws: Workspace, now: datetime | None = None) -> dict:
    """Write the labelled predictions not exported yet as one landing batch.

    Args:
        ws: The workspace.
        now: The current UTC time (tests); labels recorded after `now - label_delay` wait.

    Returns:
        A summary: `status` (`ok`, or `skipped` when off or nothing is new), `rows`, `file`
        (the batch's path), `waiting` (labelled rows still inside the label delay) and
        `message`.
    """
    cfg = ws.config.sources.feedback
    if not cfg.enabled:
        return {
            "status": "skipped",
            "rows": 0,
            "message": "labels export is off (sources.feedback.enabled: false)",
        }
    now = now or utc_now()
    cutoff = now - timedelta(seconds=cfg.delay_seconds)
    fresh = labelled_predictions(prediction_log_source(ws), now)  # the log, read once
    if len(fresh):
        fresh = fresh[~fresh["request_id"].astype(str).isin(exported_ids(ws))]
    ready = fresh
    if len(fresh):
        labelled_at = pd.to_datetime(fresh["feedback_time"], utc=True, format="ISO8601")
        ready = fresh[(labelled_at <= pd.Timestamp(cutoff)).to_numpy()]
    summary = {"waiting": len(fresh) - len(ready)}
    if ready.empty:
        message = f"no new labels older than {cfg.label_delay} to export"
        return summary | {"status": "skipped", "rows": 0, "message": message}
    if len(ready) < cfg.min_rows:
        message = (
            f"{len(ready)} labelled prediction(s) ready, fewer than sources.feedback.min_rows "
            f"({cfg.min_rows}): waiting for more"
        )
        return summary | {"status": "skipped", "rows": 0, "message": message}
    batch = labelled_batch(ws, ready)
    path = ws.landing / f"feedback-{now.strftime('%Y%m%dT%H%M%S%fZ')}.csv"
    atomic_write(path, lambda tmp: batch.to_csv(tmp, index=False))
    _mark_exported(ws, ready["request_id"].astype(str).tolist())
    message = f"exported {len(batch)} labelled prediction(s) to {path.name}"
    return summary | {"status": "ok", "rows": len(batch), "file": str(path), "message": message}
