"""Latency by phase on the Serving page: buckets of a real exposition to p50 / p95 per phase."""

from __future__ import annotations

import pytest

from api.metrics import PHASES, Metrics
from app.views.serving import phase_buckets, phase_frame, phases_figure


def test_phase_frame_orders_phases_as_a_request_and_reads_percentiles_from_buckets():
    m = Metrics()
    for _ in range(90):
        m.phase["predict"].observe(0.0003)  # in the (250 us, 500 us] bucket
        m.phase["parse"].observe(0.00004)  # in the first bucket (<= 50 us)
    for _ in range(10):
        m.phase["predict"].observe(0.02)  # (10 ms, 25 ms]

    frame = phase_frame(phase_buckets(m.render().decode()))

    assert list(frame["phase"]) == list(PHASES)  # every phase, even those never observed
    by = frame.set_index("phase")
    assert by.loc["predict", "requests"] == 100 and by.loc["validate", "requests"] == 0
    assert 0.25 < by.loc["predict", "p50_ms"] <= 0.5
    assert 10 < by.loc["predict", "p95_ms"] <= 25
    assert by.loc["parse", "p95_ms"] == pytest.approx(0.05 * 0.95)  # interpolated from 0
    assert by["p50_ms"].isna().sum() == 3  # no observations, no percentile
    fig = phases_figure(frame)
    assert [t.name for t in fig.data] == ["p50", "p95"]


def test_no_phase_histogram_is_an_empty_frame():
    assert phase_frame(phase_buckets("# nothing\n")).empty


def test_phase_histograms_expose_what_a_prometheus_client_histogram_exposes():
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from api.metrics import PHASE_BUCKETS

    m, reference = Metrics(), CollectorRegistry()
    h = Histogram(
        "workbench_request_phase_seconds", "x", ["phase"], buckets=PHASE_BUCKETS, registry=reference
    )
    for seconds in (0.00005, 0.0001, 0.00003, 0.0007, 0.004, 1, 3.5):  # bounds and beyond
        m.phase["transform"].observe(seconds)
        h.labels("transform").observe(seconds)

    def samples(text: str) -> list[str]:
        return [
            line
            for line in text.splitlines()
            if 'phase="transform"' in line
            and not line.startswith("workbench_request_phase_seconds_created")
        ]

    assert samples(m.render().decode()) == samples(generate_latest(reference).decode())
