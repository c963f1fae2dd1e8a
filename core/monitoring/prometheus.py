"""The latest check's numbers as Prometheus gauges (for the API's or the scheduler's /metrics).

`latest_gauges(ws)` reads the newest record of the check history; `MonitoringCollector(ws)` is a
`prometheus_client` collector over it, so wiring is one line where a registry is built::

    from core.monitoring.prometheus import MonitoringCollector
    registry.register(MonitoringCollector(ws))
"""

from __future__ import annotations

from core.monitoring.history import latest_check
from core.workspace import Workspace

Labels = tuple[tuple[str, str], ...]

HELP = {
    "workbench_drift_share": "Share of drifted feature columns in the latest check",
    "workbench_dataset_drift": "1 when the latest check found dataset drift",
    "workbench_drift_score": "Drift score per feature (p-value or distance, see method)",
    "workbench_drift_detected": "1 when the feature drifted in the latest check",
    "workbench_drift_psi": "Population stability index per feature in the latest check",
    "workbench_prediction_drift_score": "Drift score of the prediction columns",
    "workbench_performance": "Watched metric on the labelled predictions of the latest check",
    "workbench_performance_baseline": "The metric of the model on its reference rows",
    "workbench_performance_drop": "Relative drop of the watched metric versus the baseline",
    "workbench_performance_drift": "1 when the latest check found performance drift",
    "workbench_drift_check_rows": "Rows in the window of the latest check",
    "workbench_drift_check_timestamp_seconds": "Unix time of the latest check",
}


def _put(out: dict, name: str, labels: Labels, value) -> None:
    if value is None:
        return
    out.setdefault(name, {})[labels] = float(value)


def latest_gauges(ws: Workspace) -> dict[str, dict[Labels, float]]:
    """Gauge name → {label pairs → value} from the newest check (empty before any check).

    Example: `{"workbench_drift_score": {(("column", "temp"), ("method", "wasserstein")): 0.12}}`.
    """
    from datetime import datetime

    record = latest_check(ws)
    out: dict[str, dict[Labels, float]] = {}
    if not record or record.get("skipped"):
        return out
    drift = record.get("drift") or {}
    _put(out, "workbench_drift_share", (), drift.get("share"))
    _put(out, "workbench_dataset_drift", (), drift.get("dataset_drift"))
    for name, col in (drift.get("columns") or {}).items():
        labels = (("column", name), ("method", str(col.get("method"))))
        _put(out, "workbench_drift_score", labels, col.get("score"))
        _put(out, "workbench_drift_detected", (("column", name),), col.get("drifted"))
        _put(out, "workbench_drift_psi", (("column", name),), col.get("psi"))
    for name, col in (drift.get("prediction_drift") or {}).items():
        labels = (("column", name), ("method", str(col.get("method"))))
        _put(out, "workbench_prediction_drift_score", labels, col.get("score"))
    perf = record.get("performance") or {}
    metric = (("metric", str(perf.get("metric"))),)
    _put(out, "workbench_performance", metric, perf.get("value"))
    _put(out, "workbench_performance_baseline", metric, perf.get("baseline"))
    _put(out, "workbench_performance_drop", metric, perf.get("drop"))
    if perf:
        _put(out, "workbench_performance_drift", metric, perf.get("drifted"))
    _put(out, "workbench_drift_check_rows", (), record.get("rows"))
    _put(
        out,
        "workbench_drift_check_timestamp_seconds",
        (),
        datetime.fromisoformat(record["time"]).timestamp(),
    )
    return out


class MonitoringCollector:
    """A `prometheus_client` collector exporting `latest_gauges(ws)` on every scrape."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def describe(self):
        """No fixed metric list: the gauges depend on the latest check."""
        return []

    def collect(self):
        """Yield one `GaugeMetricFamily` per gauge name."""
        from prometheus_client.core import GaugeMetricFamily

        for name, samples in latest_gauges(self.ws).items():
            keys = [k for k, _ in next(iter(samples))] if samples else []
            family = GaugeMetricFamily(name, HELP.get(name, name), labels=keys)
            for labels, value in samples.items():
                family.add_metric([v for _, v in labels], value)
            yield family
