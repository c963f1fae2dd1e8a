"""Prometheus metrics of one app instance (its own registry, so tests do not collide)."""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

PHASES = ("parse", "validate", "transform", "predict", "log")
"""The phases of a scoring request, in order (`workbench_request_phase_seconds`)."""
PHASE_HELP = (
    "Seconds per phase of a /predict or /invocations request: "
    "parse = reading and decoding the body into the request (from the route's middleware "
    "to the handler's decoded payload), "
    "validate = checking it against the model's fields, "
    "transform = the model's preprocessing (compiled steps or the pipeline's transform), "
    "predict = the estimator (labels and probabilities), "
    "log = handing the request to the prediction log's queue (when the log is on; its "
    "records are built and written by the log's flush thread, off the request). "
    "transform and predict are those of the model call that scored the request, "
    "shared with the requests micro-batched into it"
)
PHASE_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
)  # fmt: skip


class PhaseHistogram:
    """One phase's bucket counts and sum: a list increment per observation, no lock.

    prometheus_client's `Histogram.observe` takes a lock per value (~3.5 us here); five phases
    a request would cost ~18 us. Phases are observed on the event loop only (the worker
    thread's model times come back to it), so plain counters are safe; a scrape reads them.
    """

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(PHASE_BUCKETS) + 1)  # per bucket (not cumulative), +Inf last
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(PHASE_BUCKETS, seconds)] += 1  # le: a bound holds its value
        self.sum += seconds


class PhaseHistograms:
    """The collector of `workbench_request_phase_seconds{phase}` (a Prometheus histogram)."""

    def __init__(self) -> None:
        self.by_phase = {p: PhaseHistogram() for p in PHASES}

    def describe(self):
        return [HistogramMetricFamily("workbench_request_phase_seconds", PHASE_HELP)]

    def collect(self):
        family = HistogramMetricFamily(
            "workbench_request_phase_seconds", PHASE_HELP, labels=["phase"]
        )
        bounds = [floatToGoString(b) for b in (*PHASE_BUCKETS, math.inf)]
        for phase, h in self.by_phase.items():
            counts, total = list(h.counts), h.sum
            cumulative, buckets = 0, []
            for bound, n in zip(bounds, counts, strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            family.add_metric([phase], buckets, total)
        yield family


@dataclass
class Metrics:
    """Counters, histogram and gauges exported at /metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "workbench_requests", "HTTP requests", ["route", "status"], registry=r
        )
        self.predictions = Counter(
            "workbench_predictions", "Predicted records", ["version", "variant"], registry=r
        )
        self.requests_by_client = Counter(
            "workbench_requests_by_client",
            "Keyed /predict and /feedback requests by the key's name (never the key)",
            ["client"],
            registry=r,
        )
        self.latency = Histogram(
            "workbench_predict_latency_seconds",
            "Predict latency",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.phases = PhaseHistograms()
        r.register(self.phases)
        self.phase = self.phases.by_phase
        """The histogram of each phase: `metrics.phase["parse"].observe(seconds)`."""
        self.errors = Counter("workbench_errors", "Errors by type", ["type"], registry=r)
        self.model = Gauge(
            "workbench_model_info",
            "Served model version (value 1)",
            ["name", "version", "alias"],
            registry=r,
        )
        self.backend = Gauge(
            "workbench_model_backend_info",
            "What runs each served version's estimator: lleaves (compiled), lightgbm, sklearn",
            ["version", "alias", "backend"],
            registry=r,
        )
        self.last_reload = Gauge(
            "workbench_last_reload_timestamp_seconds",
            "Unix time of the last model swap",
            registry=r,
        )

    @classmethod
    def of_workspace(cls, workspace: Path | None) -> Metrics:
        """The app's metrics, the workspace's latest check and the scheduler's job outcomes.

        See `core.monitoring.prometheus` and `core.jobs.prometheus`.
        """
        metrics = cls()
        if workspace is not None:
            from core.jobs.prometheus import JobsCollector
            from core.monitoring.prometheus import MonitoringCollector
            from core.workspace import Workspace

            metrics.registry.register(MonitoringCollector(Workspace(workspace)))
            metrics.registry.register(JobsCollector(Workspace(workspace)))
        return metrics

    def count_client(self, client: str | None) -> None:
        """Count a keyed request under its key's name; no count when the API needs no key.

        Names come from the key store and the legacy `config` / `env`: a few label values.
        """
        if client is not None:
            self.requests_by_client.labels(client).inc()

    def show_models(self, store) -> None:
        """Export the loaded versions of a `ModelStore` and the time of its last swap."""
        self.model.clear()
        self.backend.clear()
        for loaded in (store.champion, store.challenger):
            if loaded is not None:
                self.model.labels(loaded.name, loaded.version, loaded.alias).set(1)
                self.backend.labels(loaded.version, loaded.alias, loaded.backend).set(1)
        if store.last_reload:
            self.last_reload.set(store.last_reload)

    def parsed(self, state) -> None:
        """Observe the parse phase: from `parse_clock`'s mark to now (none without a mark)."""
        started = state.get("parse_started")
        if started is not None:
            self.phase["parse"].observe(perf_counter() - started)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


def parse_clock(app):
    """Route middleware marking when the body starts to be read (the parse phase).

    Listed after the key check, so the phase is the body's reading and decoding (Litestar
    decodes `data` before the handler runs) up to the handler's `Metrics.parsed`.
    """

    async def mark(scope, receive, send) -> None:
        scope.setdefault("state", {})["parse_started"] = perf_counter()
        await app(scope, receive, send)

    return mark
