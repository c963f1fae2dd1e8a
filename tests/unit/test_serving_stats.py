"""Serving statistics: metrics parsing, percentiles, rates, shadow agreement, settings writes."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from api.metrics import Metrics
from app.views.serving_form import field_value, form_text
from app.views.serving_stats import (
    MetricsSnapshot,
    agreement_over_time,
    agreement_summary,
    histogram_quantile,
    parse_metrics,
    percentiles,
    request_rate,
    scrape_history,
    shadow_pairs,
    variant_split,
    window_buckets,
    with_agreement,
)
from core.config.edit import update_section
from core.errors import ConfigError
from core.predictions.readers import read_predictions
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.serving.client import resolve_target
from core.workspace import Workspace


def _scrape(metrics: Metrics, at: float) -> MetricsSnapshot:
    return parse_metrics(metrics.render().decode(), at)


def _served_metrics() -> Metrics:
    m = Metrics()
    for _ in range(50):
        m.latency.observe(0.003)
        m.latency.observe(0.2)
    m.requests.labels("/predict", "200").inc(9)
    m.requests.labels("/predict", "422").inc(2)
    m.requests.labels("/metrics", "200").inc(1)
    m.predictions.labels("1", "champion").inc(30)
    m.predictions.labels("2", "shadow").inc(10)
    m.errors.labels("shadow").inc()
    m.model.labels("flights-delay", "1", "champion").set(1)
    m.last_reload.set(1_700_000_000)
    return m


def test_parse_metrics_reads_every_workbench_family_of_a_real_exposition():
    snap = _scrape(_served_metrics(), 100.0)
    assert snap.requests == {("/predict", "200"): 9, ("/predict", "422"): 2, ("/metrics", "200"): 1}
    assert snap.requests_total("/predict") == 11 and snap.requests_total("/predict", "4") == 2
    assert snap.predictions == {("1", "champion"): 30, ("2", "shadow"): 10}
    assert snap.errors == {"shadow": 1}
    assert snap.models == ({"name": "flights-delay", "version": "1", "alias": "champion"},)
    assert snap.last_reload == 1_700_000_000
    assert snap.latency_count == 100 and snap.latency_sum == pytest.approx(50 * 0.203)
    assert snap.buckets[-1] == (float("inf"), 100)


def test_percentiles_interpolate_inside_the_bucket_like_histogram_quantile():
    snap = _scrape(_served_metrics(), 100.0)
    p = percentiles(snap.buckets)
    # 50 observations in (0.0025, 0.005], 50 in (0.1, 0.25]
    assert p["p50"] == pytest.approx(0.005)
    assert p["p90"] == pytest.approx(0.1 + 0.15 * 40 / 50)
    assert p["p99"] == pytest.approx(0.1 + 0.15 * 49 / 50)
    assert histogram_quantile(0.5, ()) is None
    empty = _scrape(Metrics(), 0.0)
    assert percentiles(empty.buckets)["p95"] is None


def test_quantile_in_the_inf_bucket_is_the_largest_finite_bound():
    m = Metrics()
    m.latency.observe(0.0005)
    for _ in range(9):
        m.latency.observe(30.0)
    assert histogram_quantile(0.95, _scrape(m, 0).buckets) == 2.5


def test_request_rate_and_window_come_from_two_scrapes_and_restart_resets_them():
    m = _served_metrics()
    first = _scrape(m, 100.0)
    m.requests.labels("/predict", "200").inc(20)
    m.latency.observe(0.04)
    second = _scrape(m, 110.0)
    assert request_rate(first, second) == pytest.approx(2.0)
    window = window_buckets(first, second)
    assert window[-1] == (float("inf"), 1)
    assert histogram_quantile(0.5, window) == pytest.approx(0.025 + 0.025 * 0.5)
    restarted = _scrape(Metrics(), 120.0)
    assert request_rate(second, restarted) is None and window_buckets(second, restarted) == ()
    assert request_rate(second, second) is None  # no time passed
    history = scrape_history([first, second, restarted])
    assert history["rate"].tolist()[0] == pytest.approx(2.0)
    assert pd.isna(history["rate"].tolist()[1])
    assert history["p95_ms"].tolist()[0] == pytest.approx(1000 * (0.025 + 0.025 * 0.95))


def test_variant_split_gives_records_and_share_per_version_and_variant():
    split = variant_split(_scrape(_served_metrics(), 0))
    assert split.to_dict("records") == [
        {"version": "1", "variant": "champion", "records": 30, "share": 0.75},
        {"version": "2", "variant": "shadow", "records": 10, "share": 0.25},
    ]
    assert variant_split(_scrape(Metrics(), 0)).empty


# --- shadow agreement ------------------------------------------------------------------------


def _rows(request_id, version, variant, preds, probas, minute):
    at = f"2024-05-01T10:{minute:02d}:00+00:00"
    return [
        PredictionRecord(request_id, at, "m", version, variant, {"x": i}, p, q, 1.0)
        for i, (p, q) in enumerate(zip(preds, probas, strict=True))
    ]


@pytest.fixture
def shadow_log(tmp_path):
    """Parts written by the real prediction log: served and shadow rows in separate flushes."""
    log = PredictionLog(tmp_path)
    log.append(_rows("a", "1", "champion", [1, 0, 1], [0.9, 0.2, 0.6], 0))
    log.append(_rows("b", "1", "champion", [0, 0], [0.1, 0.3], 1))  # not shadowed
    log.flush()
    log.append(_rows("a", "2", "shadow", [1, 1, 0], [0.7, 0.6, 0.4], 0))
    log.append(_rows("c", "2", "challenger", [1, 1], [0.8, 0.9], 30))  # canary request ...
    log.append(_rows("c", "2", "shadow", [1, 1], [0.8, 0.9], 30))  # ... shadowed by itself
    log.append(_rows("d", "1", "champion", [0], [0.4], 59))
    log.append(_rows("d", "2", "shadow", [0], [0.1], 59))
    log.close()
    return tmp_path


def test_shadow_rows_pair_with_the_served_row_of_the_same_record(shadow_log):
    pairs = shadow_pairs(read_predictions(shadow_log))
    assert pairs[["request_id", "record", "served", "shadow"]].values.tolist() == [
        ["a", 0, 1, 1],
        ["a", 1, 0, 1],
        ["a", 2, 1, 0],
        ["d", 0, 0, 0],
    ]  # b has no shadow; c's challenger shadowing itself is left out
    assert set(pairs["served_version"]) == {"1"} and set(pairs["shadow_version"]) == {"2"}
    assert str(pairs["time"].dt.tz) == "UTC"


def test_agreement_rate_probability_difference_and_series(shadow_log):
    pairs = with_agreement(shadow_pairs(read_predictions(shadow_log)))
    assert pairs["agree"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert pairs["probability_diff"].tolist() == pytest.approx([0.2, 0.4, 0.2, 0.3])
    summary = agreement_summary(pairs)
    assert summary[["served_version", "shadow_version", "pairs"]].values.tolist() == [["1", "2", 4]]
    assert summary["agreement"].iloc[0] == 0.5
    assert summary["mean_probability_diff"].iloc[0] == pytest.approx(0.275)
    series = agreement_over_time(pairs, max_points=10)  # 59 min span: 15 min buckets
    assert series["pairs"].tolist() == [3, 1]
    assert series["agreement"].tolist() == pytest.approx([1 / 3, 1.0])
    assert series["time"].diff().iloc[1] == pd.Timedelta("45min")


def test_regression_agreement_uses_a_relative_tolerance():
    pairs = pd.DataFrame(
        {
            "served": [100.0, 100.0],
            "shadow": [104.0, 110.0],
            "served_probability": [None, None],
            "shadow_probability": [None, None],
        }
    )
    out = with_agreement(pairs, task="regression", rel_tol=0.05)
    assert out["agree"].tolist() == [1.0, 0.0]
    assert out["probability_diff"].isna().all()


def test_a_log_without_shadow_rows_has_no_pairs(tmp_path):
    assert shadow_pairs(read_predictions(tmp_path)).empty
    with PredictionLog(tmp_path) as log:
        log.append(_rows("a", "1", "champion", [1], [0.9], 0))
    pairs = with_agreement(shadow_pairs(read_predictions(tmp_path)))
    assert pairs.empty and agreement_over_time(pairs).empty


# --- the settings writer -------------------------------------------------------------------------

CONFIG = """\
# my workspace
project: demo   # the registered model
task: classification
target: y

serving:
  # keys accepted by the API
  api_keys: ["abc"]
  poll_seconds: 5          # how often the API checks the champion alias
  canary_fraction: 0.0     # share answered by the challenger
monitoring: {}
"""


def test_update_section_sets_values_keeps_comments_and_other_keys(tmp_path):
    path = tmp_path / "workbench.yaml"
    path.write_text(CONFIG)
    update_section(path, "serving", {"canary_fraction": 0.25, "shadow_fraction": 1.0})
    text = path.read_text()
    assert "  canary_fraction: 0.25     # share answered by the challenger\n" in text
    assert "# how often the API checks the champion alias" in text and "# my workspace" in text
    assert yaml.safe_load(text)["serving"] == {
        "api_keys": ["abc"],
        "poll_seconds": 5,
        "canary_fraction": 0.25,
        "shadow_fraction": 1.0,
    }
    assert yaml.safe_load(text)["monitoring"] == {} and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize(
    ("values", "key"),
    [({"canary_fraction": 1.5}, "serving.canary_fraction"), ({"poll_seconds": 0}, "poll_seconds")],
)
def test_an_invalid_value_names_the_key_and_leaves_the_file_unchanged(tmp_path, values, key):
    path = tmp_path / "workbench.yaml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError, match=key) as err:
        update_section(path, "serving", values)
    assert str(path) in str(err.value)
    assert path.read_text() == CONFIG


def test_update_section_adds_a_missing_section_and_falls_back_on_flow_style(tmp_path):
    path = tmp_path / "workbench.yaml"
    path.write_text("task: regression\ntarget: price\n")
    update_section(path, "serving", {"shadow_fraction": 0.5})
    assert yaml.safe_load(path.read_text())["serving"] == {"shadow_fraction": 0.5}
    path.write_text("task: regression\ntarget: price\nserving: {poll_seconds: 2}\n")
    update_section(path, "serving", {"poll_seconds": 3.0})
    assert yaml.safe_load(path.read_text()) == {
        "task": "regression",
        "target": "price",
        "serving": {"poll_seconds": 3.0},
    }
    with pytest.raises(ConfigError, match="'task'"):
        update_section(path, "task", {"x": 1})


# --- the client's small pieces -------------------------------------------------------------------


def test_form_fields_round_trip_to_the_types_the_api_checks():
    values = (None, float("nan"), 3.0, 2.5, 13.809359999999998, True, "UA")
    assert [form_text(v) for v in values] == ["", "", "3", "2.5", "13.80936", "true", "UA"]
    assert field_value("1400", "long") == 1400 and field_value("2.5", "double") == 2.5
    assert field_value(" ", "double") is None and field_value("nan", "long") is None
    assert field_value("far", "double") == "far"  # sent as typed: the API names the field
    assert field_value("inf", "double") == "inf"
    assert field_value("true", "boolean") is True and field_value("12", "string") == "12"


def test_api_target_prefers_config_url_then_env_and_first_configured_key(tmp_path, monkeypatch):
    (tmp_path / "workbench.yaml").write_text(CONFIG)
    monkeypatch.delenv("WORKBENCH_API_URL", raising=False)
    monkeypatch.delenv("WORKBENCH_ADMIN_KEY", raising=False)
    monkeypatch.setenv("WORKBENCH_API_KEYS", "env-key")
    target = resolve_target(Workspace.open(tmp_path))
    assert (target.url, target.api_key, target.admin_key) == ("http://127.0.0.1:8000", "abc", None)
    monkeypatch.setenv("WORKBENCH_API_URL", "http://10.0.0.1:9000/")
    monkeypatch.setenv("WORKBENCH_ADMIN_KEY", "adm")
    target = resolve_target(Workspace.open(tmp_path))
    assert (target.url, target.admin_key) == ("http://10.0.0.1:9000", "adm")
    config = CONFIG.replace("serving:\n", "serving:\n  url: http://api:8000\n").replace(
        '["abc"]', "[]"
    )
    (tmp_path / "workbench.yaml").write_text(config)
    target = resolve_target(Workspace.open(tmp_path))
    assert (target.url, target.api_key) == ("http://api:8000", "env-key")
