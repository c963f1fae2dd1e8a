"""Challenger vs champion on the Serving and Drift pages, from a real prediction log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from servers import free_port
from ui_helpers import page, texts

from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog


def logged(root, *, challenger: bool) -> None:
    """Champion v1 on four requests, labelled; with `challenger`, v2 shadows two and answers
    two canary requests."""
    now = datetime.now(UTC)

    def row(rid, version, variant, prediction, latency):
        at = (now - timedelta(minutes=5)).isoformat()
        return PredictionRecord(rid, at, "m", version, variant, {"x": 1}, prediction, 0.7, latency)

    with PredictionLog(root / "predictions") as log:
        log.append([row(f"c{i}", "1", "champion", i % 2, 2.0) for i in range(4)])
        if challenger:
            log.append([row("c0", "2", "shadow", 0, 9.0), row("c1", "2", "shadow", 0, 9.0)])
            log.append([row("k0", "2", "challenger", 1, 8.0), row("k1", "2", "challenger", 0, 8.0)])
        for rid, actual in [("c0", 0), ("c1", 1), ("k0", 1)]:
            log.record_feedback(rid, actual)


@pytest.fixture
def ws_root(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    root.mkdir()
    cfg = {"task": "classification", "target": "y", "training": {"metric": "accuracy"}}
    (root / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.setenv("WORKBENCH_API_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root


def variants_table(at):
    return next(d.value for d in at.dataframe if "agreement" in d.value.columns)


def test_serving_page_compares_challenger_and_champion(ws_root):
    logged(ws_root, challenger=True)

    at = page("serving")

    assert not at.exception
    assert "Challenger vs champion" in texts(at.subheader)
    table = variants_table(at)
    assert table[["variant", "version", "rows"]].values.tolist() == [
        ["champion", "v1", 4],
        ["challenger", "v2", 2],
        ["shadow", "v2", 2],
    ]
    shadow = table.set_index("variant").loc["shadow"]
    assert shadow["agreement"] == 0.5  # c0: 0 vs 0, c1: 1 vs 0
    assert shadow["accuracy"] == 0.5 and shadow["labelled"] == 2
    assert table.set_index("variant").loc["challenger", "labelled"] == 1
    assert not any("No challenger traffic" in t for t in texts(at.info))
    assert any(
        c.proto.spec and "Challenger vs champion" in c.proto.spec for c in at.get("plotly_chart")
    )


def test_without_challenger_traffic_the_pages_say_how_to_get_it(ws_root):
    logged(ws_root, challenger=False)

    for name in ("serving", "drift"):
        at = page(name)

        assert not at.exception, name
        hint = [t for t in texts(at.info) if "No challenger traffic" in t]
        assert hint and "canary fraction" in hint[0] and "shadow fraction" in hint[0], name
        assert variants_table(at)["variant"].tolist() == ["champion"], name


def test_drift_page_shows_the_comparison_of_its_window_and_a_bad_window_in_one_line(ws_root):
    logged(ws_root, challenger=True)

    at = page("drift")

    assert not at.exception
    assert "Challenger vs champion" in texts(at.subheader)
    assert variants_table(at)["variant"].tolist() == ["champion", "challenger", "shadow"]
    at.text_input(key="drift_window").input("3 weeks").run()
    assert not at.exception
    assert any("window '3 weeks' is not valid" in t for t in texts(at.error))
