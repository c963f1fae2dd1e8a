"""Serving page, "Try a prediction", against a real `workbench serve`: the answer's explanation
as a waterfall from the base value to the output, and a model without explanations still
answering, with the reason."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from servers import api_server
from ui_helpers import page, texts
from workspaces import copy_workspace

KEY, ADMIN = "k", "admin-key"
pytestmark = pytest.mark.slow


def _serve(template: Path, root: Path, **serving):
    root = copy_workspace(template, root)
    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["serving"] = {**(cfg.get("serving") or {}), **serving}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root, api_server(
        root, poll_seconds=60, WORKBENCH_API_KEYS=KEY, WORKBENCH_ADMIN_KEY=ADMIN
    )


def _point_ui(monkeypatch, root: Path, url: str) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.setenv("WORKBENCH_API_URL", url)
    monkeypatch.setenv("WORKBENCH_API_KEYS", KEY)
    monkeypatch.setenv("WORKBENCH_ADMIN_KEY", ADMIN)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _waterfalls(at) -> list[dict]:
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.spec]
    return [t for f in figures for t in f["data"] if t.get("type") == "waterfall"]


def test_an_explained_prediction_shows_a_waterfall_from_base_to_the_probability(
    two_versions_template, tmp_path, monkeypatch
):
    root, server = _serve(two_versions_template, tmp_path / "ws")
    with server as (url, _):
        _point_ui(monkeypatch, root, url)
        at = page("serving")
        assert at.checkbox(key="serving_explain").value  # asked by default
        at.button(key="serving_predict").click()
        at.run()

    assert not at.exception and not at.error
    answer = " ".join(texts(at.success))
    probability = float(re.search(r"probability (\d\.\d+)", answer).group(1))
    (waterfall,) = _waterfalls(at)
    labels, values = waterfall["y"], waterfall["x"]
    assert labels[0] == "base value" and labels[-1] == "output"
    steps = values[1:-1]
    assert steps == sorted(steps, key=abs, reverse=True)  # largest contribution first
    assert values[-1] == pytest.approx(values[0] + sum(steps))
    assert 1 / (1 + math.exp(-values[-1])) == pytest.approx(probability, abs=6e-4)  # log-odds
    assert not any(name.startswith(("time_hour_", "carrier_")) for name in labels)  # raw fields


def test_a_model_without_explanations_answers_and_says_why(
    two_versions_template, tmp_path, monkeypatch
):
    # every request goes to the canary: the naive Bayes challenger, which has no exact method
    root, server = _serve(two_versions_template, tmp_path / "ws", canary_fraction=1.0)
    with server as (url, _):
        _point_ui(monkeypatch, root, url)
        at = page("serving")
        at.button(key="serving_predict").click()
        at.run()

    assert not at.exception and not at.error
    assert "variant `challenger`" in " ".join(texts(at.success))
    assert not _waterfalls(at)
    assert any("No explanation" in t and "GaussianNB" in t for t in texts(at.caption))
