"""Import a labels file into the feedback log, as if every row had been `POST /feedback`.

`workbench drift --labels FILE` joins a file for one check only; `import_labels` records the
actuals for good, so scheduled checks, the Drift page and the performance history see them.
Re-importing the same file is a no-op: rows whose actual is already the latest recorded one
are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.monitoring.reference import canonical
from core.monitoring.window import latest_actuals, read_label_rows
from core.workspace import Workspace


@dataclass
class LabelImport:
    """What an import did."""

    file: str
    rows: int
    imported: int
    unchanged: int
    """Already recorded with the same actual (a re-import)."""
    matched: int
    """Imported rows whose request id is in the prediction log."""
    unknown: int
    """Imported rows with no logged prediction (kept: the prediction may be logged later)."""
    destination: str

    def summary(self) -> str:
        text = (
            f"{self.file}: imported {self.imported} of {self.rows} label(s) into {self.destination}"
        )
        details = [f"{self.matched} match logged predictions"]
        if self.unknown:
            details.append(f"{self.unknown} have no logged prediction yet")
        if self.unchanged:
            details.append(f"{self.unchanged} were already recorded")
        return f"{text} ({'; '.join(details)})"


def import_labels(ws: Workspace, path: Path) -> LabelImport:
    """Record every new actual of a labels file in the workspace's feedback log."""
    from core.predictions.readers import prediction_log_source, read_feedback, read_predictions
    from core.predictions.writer import PredictionLog

    rows = read_label_rows(path)
    source = prediction_log_source(ws)
    known = latest_actuals(read_feedback(source))
    same = rows["request_id"].map(lambda r: canonical(known[r]) if r in known.index else None)
    fresh = rows[same != rows["actual"].map(canonical)]
    logged = set(read_predictions(source)["request_id"].astype(str))
    with PredictionLog(source) as log:
        for row in fresh.to_dict(orient="records"):
            log.record_feedback(row["request_id"], _plain(row["actual"]), row.get("time"))
    matched = int(fresh["request_id"].isin(logged).sum())
    return LabelImport(
        str(path),
        len(rows),
        len(fresh),
        len(rows) - len(fresh),
        matched,
        len(fresh) - matched,
        str(source),
    )


def _plain(value):
    """Numpy scalars as Python values (the feedback log stores them as given)."""
    return value.item() if hasattr(value, "item") else value
