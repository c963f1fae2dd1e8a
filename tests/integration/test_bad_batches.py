"""Bad batches are rejected with a message naming the problem, quarantined, alerted, and the
last good data version stays byte-for-byte as it was."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_output import squeezed

from core.alerts import read_alerts
from core.data.pipeline import list_quarantine, pipeline_lock, run_pipeline
from core.data.versioning import latest_version
from core.errors import PipelineBusy, VersioningError

pytestmark = pytest.mark.slow


def _good_day(ws) -> pd.DataFrame:
    return pd.read_csv(sorted((ws.root / ".demo" / "holdback").iterdir())[0])


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def missing_required_column(day):
    return _csv(day.drop(columns=["carrier"]))


def wrong_dtype(day):
    return _csv(day.assign(distance=["far"] * len(day)))


def empty_file(day):
    return b""


def header_only(day):
    return (",".join(day.columns) + "\n").encode()


def garbage_bytes(day):
    return np.random.default_rng(7).bytes(4096)


def non_utf8_text(day):
    text = day.assign(dest="Montréal").to_csv(index=False)
    return text.encode("latin-1")


def duplicated_header_row(day):
    lines = _csv(day).decode().splitlines()
    return "\n".join(lines[:50] + [lines[0]] + lines[50:]).encode() + b"\n"


def out_of_range_values(day):
    return _csv(day.assign(temp=np.where(np.arange(len(day)) % 3 == 0, 500.0, day["temp"])))


def all_null_column(day):
    return _csv(day.assign(temp=np.nan))


def not_csv_despite_name(day):
    return day.to_parquet(index=False)


def stale_resent_batch(day):
    old = day.copy()
    old["time_hour"] = "2013-01-01T12:00:00Z"  # older than the versioned data
    return _csv(old)


CASES = [
    (missing_required_column, "raw", ["required_columns", "carrier"]),
    (wrong_dtype, "raw", ["dtype", "distance"]),
    (empty_file, "raw", ["empty"]),
    (header_only, "raw", ["header only"]),
    (garbage_bytes, "raw", ["binary"]),
    (non_utf8_text, "raw", ["not UTF-8"]),
    (duplicated_header_row, "raw", ["duplicated header row", "line 51"]),
    (out_of_range_values, "raw", ["range", "temp"]),
    (all_null_column, "raw", ["missing_rate", "temp"]),
    (not_csv_despite_name, "raw", ["Parquet", "not CSV"]),
    (stale_resent_batch, "raw", ["freshness", "time_hour"]),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("make", "stage", "words"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_batch_is_quarantined_and_last_good_version_untouched(versioned_ws, make, stage, words):
    ws = versioned_ws
    before = latest_version(ws)
    digests = {p: _digest(p) for p in (ws.features_file, ws.processed_file, ws.meta_file)}
    name = f"bad_{make.__name__}.csv"
    (ws.landing / name).write_bytes(make(_good_day(ws)))

    result = run_pipeline(ws)

    assert result.status == "failed"
    [outcome] = result.batches
    assert outcome.status == "quarantined" and outcome.stage == stage
    assert name in outcome.reason
    for word in words:
        assert word in outcome.reason, outcome.reason
    assert latest_version(ws).commit == before.commit
    assert {p: _digest(p) for p in digests} == digests
    [entry] = list_quarantine(ws)
    assert entry["name"] == name and entry["reason"] == outcome.reason
    assert (ws.quarantine / outcome.batch_id / name).read_bytes() == (
        ws.landing / name
    ).read_bytes()
    assert read_alerts(ws.alerts_path)[0]["kind"] == "data.batch_rejected"
    assert not list(ws.data.rglob("*.tmp"))  # no partial output left behind


def test_good_batch_goes_through_beside_a_bad_one_and_cli_exits_nonzero(versioned_ws):
    ws = versioned_ws
    day = _good_day(ws)
    (ws.landing / "bad.csv").write_bytes(missing_required_column(day))
    (ws.landing / "good.csv").write_bytes(_csv(day))
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root))

    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "data", "run"], env=env, capture_output=True, text=True
    )

    assert proc.returncode == 1
    said = squeezed(proc.stdout)  # the rejection reason may name a path rich cuts at the width
    assert "bad.csv" in said and "required_columns" in said
    assert "Traceback" not in proc.stdout + proc.stderr
    versions = json.loads((ws.meta_file).read_text())
    assert versions["batches"][-1] == "good.csv"


def test_failed_push_commits_nothing_and_restores_the_previous_data(versioned_ws, tmp_path):
    ws = versioned_ws
    before = latest_version(ws)
    digest = _digest(ws.features_file)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the remote's parent folder should be")
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "modify", "local", "url", str(blocker / "remote")],
        cwd=ws.root,
        check=True,
    )
    (ws.landing / "good.csv").write_bytes(_csv(_good_day(ws)))

    with pytest.raises(VersioningError, match="dvc push"):
        run_pipeline(ws)

    assert latest_version(ws).commit == before.commit
    assert _digest(ws.features_file) == digest
    assert (
        subprocess.run(
            ["git", "status", "--porcelain", "data"], cwd=ws.root, capture_output=True, text=True
        ).stdout
        == ""
    )
    assert read_alerts(ws.alerts_path)[0]["kind"] == "data.versioning_failed"


def test_concurrent_run_is_refused_while_the_lock_is_held(versioned_ws):
    with pipeline_lock(versioned_ws), pytest.raises(PipelineBusy, match="another data pipeline"):
        run_pipeline(versioned_ws)
    assert run_pipeline(versioned_ws).status == "noop"  # released afterwards
