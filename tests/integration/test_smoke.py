"""The rollout's smoke test against a real API process (`workbench serve`): each check passes on
the right model and fails, named, on a wrong one, an impossible latency gate or no API; its rows
are logged as variant `smoke`, which no drift window or serving statistic counts."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest
from servers import api_server, free_port
from workspaces import copy_workspace, set_training

from app.views.serving_stats import parse_metrics, variant_split
from core.deploy.smoke import SmokeTest, SmokeTestFailed
from core.monitoring.check import run_check
from core.monitoring.variants import compare_variants
from core.predictions.readers import read_predictions
from core.training.train import train
from core.workspace import Workspace

pytestmark = pytest.mark.slow
ENV = {"WORKBENCH_API_KEYS": "k"}


@pytest.fixture(scope="module")
def served(trained_template, tmp_path_factory):
    """The trained workspace's champion (v1) served by a real API process."""
    root = copy_workspace(trained_template, tmp_path_factory.mktemp("smoke") / "ws")
    with api_server(root, **ENV) as (url, _):
        yield Workspace.open(root), url


@pytest.fixture(scope="module")
def other_v1(versioned_template, tmp_path_factory) -> Workspace:
    """The same data with another model registered as version 1 (naive Bayes)."""
    root = tmp_path_factory.mktemp("other") / "ws"
    shutil.copytree(versioned_template, root, symlinks=True)  # no MLflow store to rewrite yet
    result = train(set_training(root, candidates=["naive_bayes"]))
    assert result.registered["version"] == "1"
    return Workspace.open(root)


def test_the_served_champion_passes_every_check(served):
    ws, url = served
    report = SmokeTest(ws).run(url, ENV)
    assert report.version == "1" and report.rows == 100 and report.requests == 50
    assert report.gate_ms_per_row == ws.config.gates.max_latency_ms_per_row
    assert 0 < report.p99_ms_per_row <= report.gate_ms_per_row
    assert "smoke test passed" in report.line()
    print(f"\n{report.line()} in {report.seconds:.1f} s")


def test_predictions_that_differ_from_the_registered_version_fail_it(served, other_v1):
    _, url = served  # serves a logistic regression / LightGBM as v1; other_v1 registered NB
    with pytest.raises(SmokeTestFailed) as info:
        SmokeTest(other_v1).run(url, ENV)
    assert info.value.check == "holdout predictions"
    assert "differ from v1 as registered" in str(info.value)


def test_an_impossible_latency_gate_fails_it_naming_the_setting(served):
    ws, url = served
    with pytest.raises(SmokeTestFailed) as info:
        SmokeTest(ws, gate_ms_per_row=0.000001).run(url, ENV)
    assert info.value.check == "p99 latency"
    assert "above the latency gate 1e-06 ms" in str(info.value)
    assert "gates.max_latency_ms_per_row" in str(info.value)


def test_no_api_fails_at_ready(served):
    ws, _ = served
    with pytest.raises(SmokeTestFailed, match="smoke test failed at ready") as info:
        SmokeTest(ws).run(f"http://127.0.0.1:{free_port()}", ENV, timeout=5)
    assert info.value.check == "ready"


def test_a_wrong_key_fails_at_the_holdout_naming_the_status(served):
    ws, url = served
    with pytest.raises(SmokeTestFailed, match="answered 403") as info:
        SmokeTest(ws).run(url, {"WORKBENCH_ADMIN_KEY": "not-the-key"})
    assert info.value.check == "holdout predictions"


def _log(ws: Workspace, wanted, timeout: float = 60) -> pd.DataFrame:
    """The prediction log once `wanted(log)` holds (the API flushes every 2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        log = read_predictions(ws.predictions_dir)
        if (not log.empty and wanted(log)) or time.monotonic() > deadline:
            return log
        time.sleep(0.5)


def _count(log: pd.DataFrame, variant: str, since: str = "") -> int:
    """Rows of `variant` logged at or after `since` (ISO; earlier tests' rows flush late)."""
    return 0 if log.empty else int(((log["variant"] == variant) & (log["time"] >= since)).sum())


def test_smoke_rows_are_logged_as_smoke_and_no_window_or_stat_counts_them(served):
    ws, url = served
    since = datetime.now(UTC).isoformat(timespec="milliseconds")  # as the log writes it
    SmokeTest(ws, rows=20, requests=4, batch=5).run(url, ENV)  # 20 + 4 x 5 rows
    path = sorted((ws.root / ".demo" / "holdback").glob("*.csv"))[0]
    records = pd.read_csv(path, nrows=50).dropna().head(3).drop(columns=[ws.config.target])
    body = {"records": records.to_dict("records")}
    real = httpx.post(f"{url}/predict", json=body, headers={"X-API-Key": "k"})
    assert real.status_code == 200 and real.json()["variant"] == "champion"
    log = _log(ws, lambda g: _count(g, "smoke", since) >= 40 and _count(g, "champion") >= 3)
    assert (_count(log, "smoke", since), _count(log, "champion")) == (40, 3)
    smoke_ids = set(log.loc[log["variant"] == "smoke", "request_id"])
    assert real.json()["request_id"] not in smoke_ids

    check = run_check(ws, "all", notify=False, report=False, record=False)
    window = set(check.window.frame["request_id"])
    assert real.json()["request_id"] in window and not window & smoke_ids
    assert len(check.window.frame) == 3  # the only real traffic this API answered
    assert [v.variant for v in compare_variants(ws, "all").variants] == ["champion"]

    snap = parse_metrics(httpx.get(f"{url}/metrics").text, time.time())
    assert snap.smoke["1"] >= 40  # workbench_predictions_total{variant="smoke"}
    assert snap.predictions[("1", "champion")] == _count(log, "champion")  # this server's
    assert "smoke" not in set(variant_split(snap)["variant"])


def test_a_predict_key_marking_smoke_is_refused_naming_the_header(served):
    _, url = served
    refused = httpx.post(
        f"{url}/predict",
        json={"records": [{}]},
        headers={"X-API-Key": "k", "X-Workbench-Traffic": "smoke"},
    )
    assert refused.status_code == 403
    assert "X-Workbench-Traffic: smoke needs a key with role admin" in refused.json()["detail"]
