"""The rollout's smoke test against a real API process (`workbench serve`): each check passes on
the right model and fails, named, on a wrong one, an impossible latency gate or no API."""

from __future__ import annotations

import shutil

import pytest
from servers import api_server, free_port
from workspaces import copy_workspace, set_training

from core.deploy.smoke import SmokeTest, SmokeTestFailed
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
        SmokeTest(ws).run(url, {"WORKBENCH_API_KEYS": "not-the-key"})
    assert info.value.check == "holdout predictions"
