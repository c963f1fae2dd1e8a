"""The whole data pipeline against real git, real DVC and a real remote folder."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from cli_output import flat, wide_env

from core.data.pipeline import list_runs, run_pipeline
from core.data.versioning import latest_version, list_versions, read_version_file
from core.workspace import Workspace
from core.workspace.demo import drip

pytestmark = pytest.mark.slow


def _git(ws: Workspace, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ws.root, check=True, capture_output=True, text=True
    ).stdout


def test_first_run_versions_every_landed_batch_and_pushes_to_the_remote(demo_ws):
    result = run_pipeline(demo_ws)

    assert result.status == "ok", result.message
    assert [b.status for b in result.batches] == ["accepted"] * 3
    versions = list_versions(demo_ws)
    assert len(versions) == 1
    version = versions[0]
    assert version.commit == _git(demo_ws, "rev-parse", "HEAD").strip()
    features = pd.read_parquet(demo_ws.features_file)
    assert version.rows == len(features) > 2000
    assert {"time_hour_month", "dewpoint_spread", "distance_bin"} <= set(features.columns)
    assert "wind_gust" not in features.columns  # dropped by preprocessing config
    dvc_meta = yaml.safe_load((demo_ws.features / "features.parquet.dvc").read_text())
    assert dvc_meta["outs"][0]["md5"] == version.md5
    remote_files = [p for p in (demo_ws.root / "dvc-remote").rglob("*") if p.is_file()]
    assert len(remote_files) >= 2  # processed + features pushed
    subject = _git(demo_ws, "log", "-1", "--format=%s")
    assert "flights_2013-01-01.csv" in subject


def test_rerun_with_nothing_new_is_a_noop_that_says_so(versioned_ws):
    before = latest_version(versioned_ws)

    result = run_pipeline(versioned_ws)

    assert result.status == "noop"
    assert "no new data" in result.message
    assert latest_version(versioned_ws).commit == before.commit
    assert list_runs(versioned_ws)[0]["status"] == "noop"


def test_raw_copies_are_immutable_and_each_file_is_ingested_once(versioned_ws):
    raw_files = list(versioned_ws.raw.iterdir())
    assert len(raw_files) == 3
    assert all(not (p.stat().st_mode & stat.S_IWUSR) for p in raw_files)
    manifest = json.loads(versioned_ws.manifest_path.read_text())
    assert sorted(e["name"] for e in manifest.values()) == sorted(
        p.name.split("__", 1)[1] for p in raw_files
    )
    assert all(e["status"] == "accepted" and e["version"] for e in manifest.values())


def test_new_day_arrives_and_becomes_a_second_version_with_the_first_recoverable(versioned_ws):
    first = latest_version(versioned_ws)
    moved = drip(versioned_ws.root, 2)

    result = run_pipeline(versioned_ws)

    assert result.status == "ok"
    assert sorted(b.name for b in result.batches) == sorted(p.name for p in moved)
    versions = list_versions(versioned_ws)
    assert [v.commit for v in versions][1] == first.commit
    assert versions[0].rows > first.rows
    old = pd.read_parquet(__import__("io").BytesIO(read_version_file(versioned_ws, first)))
    assert len(old) == first.rows


def test_cli_data_run_versions_and_validate_report_through_the_real_command(demo_ws):
    env = dict(os.environ, WORKBENCH_HOME=str(demo_ws.root))
    cli = [sys.executable, "-m", "app.cli"]

    run = subprocess.run([*cli, "data", "run"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "accepted as data version" in flat(run.stdout)
    versions = subprocess.run(  # a table: its cells are cut to fit a narrow width
        [*cli, "data", "versions"], env=wide_env(env), capture_output=True, text=True
    )
    assert latest_version(demo_ws).short in versions.stdout
    held = sorted((demo_ws.root / ".demo" / "holdback").iterdir())[0]
    ok = subprocess.run(
        [*cli, "data", "validate", "--stage", "raw", str(held)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "raw validation passed" in flat(ok.stdout)
    broken = demo_ws.root / "broken.csv"
    pd.read_csv(held).assign(temp=500.0).to_csv(broken, index=False)
    bad = subprocess.run(
        [*cli, "data", "validate", "--stage", "raw", str(broken)],
        env=wide_env(env),  # the table of rule results
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert "range" in bad.stdout and "temp" in bad.stdout


def test_sql_source_ingests_only_rows_past_the_watermark(demo_ws, tmp_path):
    db = tmp_path / "warehouse.db"
    day = pd.read_csv(sorted((demo_ws.root / ".demo" / "holdback").iterdir())[0])
    day = day.sort_values("time_hour", ignore_index=True)
    for p in demo_ws.landing.iterdir():
        p.unlink()  # only the SQL source feeds this workspace
    with sqlite3.connect(db) as conn:
        day.iloc[:400].to_sql("flights", conn, index=False)
    cfg = yaml.safe_load(demo_ws.config_path.read_text())
    cfg["sources"]["sql"] = [
        {
            "name": "warehouse",
            "url": f"sqlite:///{db}",
            "query": "SELECT * FROM flights",
            "watermark_column": "time_hour",
        }
    ]
    demo_ws.config_path.write_text(yaml.safe_dump(cfg))
    ws = Workspace.open(demo_ws.root)

    first = run_pipeline(ws)
    assert first.status == "ok", first.message
    assert run_pipeline(ws).status == "noop"
    with sqlite3.connect(db) as conn:
        day.iloc[400:].to_sql("flights", conn, index=False, if_exists="append")
    third = run_pipeline(ws)

    assert third.status == "ok", third.message
    newest_first = day.iloc[:400]["time_hour"].max()
    expected_new = int((day.iloc[400:]["time_hour"] > newest_first).sum())
    assert expected_new > 100
    assert third.batches[0].rows == expected_new
    assert len(list_versions(ws)) == 2
