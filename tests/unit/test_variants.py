"""Challenger vs champion on a real prediction log: windows keep the champion's rows only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from typer.testing import CliRunner

from core.monitoring.variants import compare_variants
from core.monitoring.window import WindowError, log_window
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.workspace import Workspace

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def row(rid, version, variant, prediction, latency, minutes_ago, probability=None):
    return PredictionRecord(
        rid, at(minutes_ago), "m", version, variant, {"x": 1}, prediction, probability, latency
    )


def workspace(root, task="classification", metric="accuracy") -> Workspace:
    cfg = {"task": task, "target": "y", "training": {"metric": metric}}
    (root / "workbench.yaml").write_text(yaml.safe_dump(cfg))
    return Workspace.open(root)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    """Champion v1 (one row from an old log without a variant), shadow v2 on three of its
    requests, canary v2 on two requests, an old champion row, and labels for most of them."""
    ws = workspace(tmp_path)
    with PredictionLog(ws.predictions_dir) as log:
        log.append([row("old", "1", "champion", 1, 50.0, 30 * 60)])  # outside 24h
        log.append([row("o1", "1", "", 0, 6.0, 120)])  # logged before variants: champion
        for i, pred in enumerate([1, 0, 1, 1]):
            log.append([row(f"c{i + 1}", "1", "champion", pred, float(i + 1), 60 - i)])
        log.flush()  # shadows land in a later part, as the API's background scoring does
        for i, pred in enumerate([1, 1, 1]):
            log.append([row(f"c{i + 1}", "2", "shadow", pred, 10.0 * (i + 1), 60 - i)])
        log.append([row("k1", "2", "challenger", 0, 5.0, 30)])
        log.append([row("k2", "2", "challenger", 0, 7.0, 29)])
        for rid, actual in [("c1", 1), ("c2", 1), ("c3", 0), ("k1", 0), ("o1", 0), ("old", 0)]:
            log.record_feedback(rid, actual, at(10))
    return ws


@pytest.fixture
def cli(monkeypatch):
    """Invoke `workbench`, its consoles writing to the runner's stdout.

    A test that patched `out.file` leaves it pinned to the stream of its time when undone;
    `_file = None` makes the console follow `sys.stdout` (the runner's) again.
    """
    from app.cli import app
    from app.cli.common import err, out

    for console in (out, err):
        monkeypatch.setattr(console, "_file", None)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def by_variant(comparison) -> dict[str, object]:
    return {(v.variant, v.version): v for v in comparison.variants}


def test_each_variant_gets_rows_latency_agreement_and_realized_metric(ws):
    comparison = compare_variants(ws, "24h", now=NOW)

    stats = by_variant(comparison)
    assert list(stats) == [("champion", "1"), ("challenger", "2"), ("shadow", "2")]
    champion, canary, shadow = stats.values()
    assert (champion.rows, canary.rows, shadow.rows) == (5, 2, 3)
    assert (champion.latency_p50_ms, champion.latency_p95_ms) == pytest.approx((3.0, 5.6))
    assert (canary.latency_p50_ms, canary.latency_p95_ms) == pytest.approx((6.0, 6.9))
    assert (shadow.latency_p50_ms, shadow.latency_p95_ms) == pytest.approx((20.0, 29.0))
    # realized accuracy on the labelled rows: champion c1 ok, c2 no, c3 no, o1 ok
    assert (champion.labelled, champion.realized) == (4, pytest.approx(0.5))
    assert (canary.labelled, canary.realized) == (1, pytest.approx(1.0))  # k2 has no label
    assert (shadow.labelled, shadow.realized) == (3, pytest.approx(2 / 3))  # its champion's ids
    # the shadow scored c1..c3 as the champion did on c1 and c3, not on c2
    assert (shadow.agreement, shadow.agreement_pairs) == (pytest.approx(2 / 3), 3)
    assert (champion.agreement, canary.agreement, canary.agreement_pairs) == (None, None, 0)
    assert comparison.metric == "accuracy" and comparison.challenger_traffic
    assert (comparison.start, comparison.end) == (at(120), at(29))


def test_drift_and_performance_windows_keep_the_champion_rows_only(ws):
    window = log_window(ws, "24h", now=NOW)

    frame = window.frame
    assert sorted(frame["request_id"]) == ["c1", "c2", "c3", "c4", "o1"]  # no canary, no shadow
    assert set(frame["model_version"]) == {"1"}
    assert window.labelled == 4
    actuals = frame.set_index("request_id")["y"].dropna().astype(int).to_dict()
    assert actuals == {"c1": 1, "c2": 1, "c3": 0, "o1": 0}


def test_row_windows_count_served_predictions_and_keep_their_shadows(ws):
    last3 = by_variant(compare_variants(ws, "3", now=NOW))  # c4, k1, k2
    assert {k: v.rows for k, v in last3.items()} == {("champion", "1"): 1, ("challenger", "2"): 2}

    last6 = by_variant(compare_variants(ws, "6", now=NOW))  # c1..c4, k1, k2 and c1..c3's shadows
    assert last6[("shadow", "2")].rows == 3 and last6[("champion", "1")].rows == 4

    everything = by_variant(compare_variants(ws, "all", now=NOW))
    assert everything[("champion", "1")].rows == 6  # the 30-hour-old row too


def test_without_challenger_traffic_or_labels_there_is_nothing_to_compare(tmp_path, cli):
    ws = workspace(tmp_path)
    empty = compare_variants(ws, "24h", now=NOW)
    assert empty.variants == [] and not empty.challenger_traffic and empty.start is None

    with PredictionLog(ws.predictions_dir) as log:
        log.append([row("a", "1", "champion", 1, 2.0, 5)])
    only = compare_variants(ws, "24h", now=NOW)
    [champion] = only.variants
    assert not only.challenger_traffic
    assert (champion.rows, champion.labelled, champion.realized) == (1, 0, None)
    from cli_output import flat

    hint = cli("variants", "-w", str(ws.root), "--window", "all")
    assert hint.exit_code == 0 and "set serving.canary_fraction" in flat(hint.output)


def test_regression_shadows_agree_within_five_percent(tmp_path):
    ws = workspace(tmp_path, task="regression", metric="mae")
    with PredictionLog(ws.predictions_dir) as log:
        log.append(
            [row("a", "1", "champion", 100.0, 1.0, 5), row("a", "1", "champion", 50.0, 1.0, 5)]
        )
        log.append([row("a", "2", "shadow", 104.0, 1.0, 5), row("a", "2", "shadow", 60.0, 1.0, 5)])
        log.record_feedback("a", 102.0, at(1))

    stats = by_variant(compare_variants(ws, "1h", now=NOW))

    shadow = stats[("shadow", "2")]
    assert (shadow.agreement, shadow.agreement_pairs) == (0.5, 2)  # 104 vs 100 ok, 60 vs 50 no
    assert stats[("champion", "1")].realized == pytest.approx((2 + 52) / 2)  # MAE vs 102
    assert shadow.realized == pytest.approx((2 + 42) / 2)


def test_json_has_stable_keys_and_a_bad_window_is_refused(ws):
    data = compare_variants(ws, "24h", now=NOW).to_json()

    assert set(data) == {"window", "label", "metric", "task", "start", "end", "variants"}
    assert set(data["variants"][0]) == {
        "variant",
        "version",
        "rows",
        "labelled",
        "realized",
        "latency_p50_ms",
        "latency_p95_ms",
        "agreement",
        "agreement_pairs",
    }
    assert json.loads(json.dumps(data)) == data
    with pytest.raises(WindowError, match="3 weeks"):
        compare_variants(ws, "3 weeks")


def test_cli_prints_the_comparison_as_json_and_a_table(ws, cli):
    from cli_output import flat, wide_console

    result = cli("variants", "-w", str(ws.root), "--window", "all", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {(v["variant"], v["version"]): v for v in data["variants"]}
    assert rows[("shadow", "2")]["agreement_pairs"] == 3
    assert rows[("champion", "1")]["rows"] == 6 and data["window"] == "all"

    with wide_console():
        table = cli("variants", "-w", str(ws.root), "--window", "all")
    assert table.exit_code == 0, table.output
    assert "66.7% of 3" in table.output and "(1 labelled)" in table.output

    bad = cli("variants", "-w", str(ws.root), "--window", "3 weeks")
    assert bad.exit_code == 1 and "window '3 weeks' is not valid" in flat(bad.output)


def test_the_pages_table_and_chart_show_each_variant_and_measure(ws):
    from app.views.serving import variants_figure
    from app.views.serving_stats import variants_frame

    frame = variants_frame(compare_variants(ws, "24h", now=NOW))

    assert frame.columns.tolist() == [
        *["variant", "version", "rows", "p50 ms", "p95 ms", "agreement", "labelled", "accuracy"]
    ]
    assert frame[["variant", "version"]].values.tolist() == [
        ["champion", "v1"],
        ["challenger", "v2"],
        ["shadow", "v2"],
    ]
    fig = variants_figure(frame, "accuracy")
    assert {a.text for a in fig.layout.annotations} == {"p50 ms", "p95 ms", "agreement", "accuracy"}
    bars = {trace.name: len(trace.x) for trace in fig.data if trace.xaxis == "x3"}  # agreement
    assert bars == {"shadow": 1}  # only the shadow has pairs with the champion
