"""Models page, global importance: mean |contribution| per raw field on the holdout, the
reviewed version beside the champion; a family without an exact method says so."""

from __future__ import annotations

import json

import pytest
from test_ui_models import models_template, models_ws  # noqa: F401 - pytest fixtures
from ui_helpers import page, texts

pytestmark = pytest.mark.slow
TIMEOUT = 120  # loads the versions and explains up to 1,000 holdout rows with each


def test_importance_of_the_champion_and_a_version_without_an_exact_method(models_ws):  # noqa: F811
    at = page("models")
    at.selectbox(key="models_version").select("2").run(timeout=TIMEOUT)  # naive Bayes
    at.toggle(key="models_importance").set_value(True).run(timeout=TIMEOUT)

    assert not at.exception
    assert any("No global importance" in t and "GaussianNB" in t for t in texts(at.info))

    at.selectbox(key="models_version").select("1").run(timeout=TIMEOUT)  # the champion alone
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.spec]
    (figure,) = [s for s in specs if "Global importance" in json.dumps(s.get("layout", {}))]
    (bars,) = figure["data"]
    assert bars["name"] == "v1" and len(bars["y"]) == 15
    assert not any(name.startswith(("time_hour_", "carrier_")) for name in bars["y"])
    assert all(x >= 0 for x in bars["x"]) and bars["x"][0] > 0
