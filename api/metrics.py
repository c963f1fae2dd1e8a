"""Prometheus metrics of one app instance (its own registry, so tests do not collide)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
        self.errors = Counter("workbench_errors", "Errors by type", ["type"], registry=r)
        self.model = Gauge(
            "workbench_model_info",
            "Served model version (value 1)",
            ["name", "version", "alias"],
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
        for loaded in (store.champion, store.challenger):
            if loaded is not None:
                self.model.labels(loaded.name, loaded.version, loaded.alias).set(1)
        if store.last_reload:
            self.last_reload.set(store.last_reload)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
