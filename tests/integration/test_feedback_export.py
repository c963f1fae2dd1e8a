"""Labels become data: labelled predictions exported into the landing zone and versioned.

A real git + DVC workspace (the versioned demo): a held-back day's raw rows are logged as
answered predictions, their actuals arrive as feedback, `workbench labels export` writes them
as a landing batch, and the data pipeline versions them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from scheduling import set_section
from typer.testing import CliRunner

from app.cli import app
from core.data.feedback import export_labels, exported_ids
from core.data.pipeline import run_pipeline
from core.data.versioning import latest_version
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.workspace import Workspace

pytestmark = pytest.mark.slow


def held_back_day(ws: Workspace) -> pd.DataFrame:
    """The next held-back day of the demo, removed from the hold-back (it arrives as traffic)."""
    path = sorted((ws.root / ".demo" / "holdback").iterdir())[0]
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    path.unlink()
    return frame


def log_traffic(ws: Workspace, frame: pd.DataFrame, labelled_ago: list[float | None]) -> list:
    """Log each row's raw inputs as a prediction 3 h ago, and its actual `labelled_ago` hours ago.

    A None in `labelled_ago` leaves that prediction without a label.
    """
    target = ws.config.target
    inputs = json.loads(frame.drop(columns=[target]).to_json(orient="records", date_format="iso"))
    now = datetime.now(UTC)
    ids = [uuid.uuid4().hex for _ in inputs]
    with PredictionLog(ws.predictions_dir) as log:
        log.append(
            [
                PredictionRecord(
                    rid,
                    (now - timedelta(hours=3)).isoformat(),
                    ws.config.model_name,
                    "1",
                    "champion",
                    record,
                    0,
                    0.5,
                    1.0,
                )
                for rid, record in zip(ids, inputs, strict=True)
            ]
        )
    with PredictionLog(ws.predictions_dir) as log:
        for rid, actual, ago in zip(ids, frame[target], labelled_ago, strict=True):
            if ago is not None:
                log.record_feedback(rid, int(actual), (now - timedelta(hours=ago)).isoformat())
    return ids


def enable_feedback(ws: Workspace) -> Workspace:
    return set_section(ws.root, "sources", {"feedback": {"enabled": True, "label_delay": "1h"}})


def test_labelled_predictions_become_a_new_data_version_once(versioned_ws):
    ws = enable_feedback(versioned_ws)
    before = latest_version(ws)
    day = held_back_day(ws).iloc[:80].reset_index(drop=True)
    # 60 labelled 2 h ago (past the 1 h delay), 10 labelled just now, 10 never labelled
    # (the demo's raw rules want at least 50 rows in a batch)
    ids = log_traffic(ws, day, [2.0] * 60 + [0.0] * 10 + [None] * 10)

    result = CliRunner().invoke(app, ["labels", "export", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "exported 60 labelled prediction(s)" in result.output
    assert "10 label(s) wait" in result.output
    batch_file = next(ws.landing.glob("feedback-*.csv"))
    batch = pd.read_csv(batch_file)
    assert len(batch) == 60
    assert set(day.columns) <= set(batch.columns)  # raw inputs + target + time column
    expected = day.iloc[:60][ws.config.target].astype(int).tolist()
    assert batch[ws.config.target].tolist() == expected
    assert exported_ids(ws) == set(ids[:60])

    again = export_labels(ws)
    assert again["status"] == "skipped" and again["rows"] == 0

    run = run_pipeline(ws)
    version = latest_version(ws)
    assert [b.name for b in run.accepted] == [batch_file.name]
    assert version.id != before.id
    assert batch_file.name in version.batches
    assert version.rows == before.rows + 60

    in_2h = datetime.now(UTC) + timedelta(hours=2)
    few = {"enabled": True, "label_delay": "1h", "min_rows": 11}
    held = export_labels(set_section(ws.root, "sources", {"feedback": few}), now=in_2h)
    assert held["status"] == "skipped" and "fewer than sources.feedback.min_rows" in held["message"]
    later = export_labels(enable_feedback(ws), now=in_2h)
    assert later["status"] == "ok" and later["rows"] == 10  # only the ones that were waiting
    assert exported_ids(ws) == set(ids[:70])
    assert export_labels(ws, now=datetime.now(UTC) + timedelta(hours=3))["rows"] == 0


def test_the_export_is_off_by_default(versioned_ws):
    log_traffic(versioned_ws, held_back_day(versioned_ws).iloc[:5], [2.0] * 5)

    summary = export_labels(versioned_ws)

    assert summary["status"] == "skipped"
    assert "sources.feedback.enabled: false" in summary["message"]
    assert not list(versioned_ws.landing.glob("feedback-*"))
