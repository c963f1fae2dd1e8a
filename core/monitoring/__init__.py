"""Monitoring: reference profiles, drift and performance checks, reports, alerts, retraining.

Importing the package is cheap (the workspace config imports its settings); every module does
its heavy imports itself. Entry points:

- `core.monitoring.check.run_check(ws, ...)`: one drift + performance check of a window of the
  prediction log (or of any file), recorded, alerted and maybe turned into a retrain request.
- `core.monitoring.drift.check_drift(profile, frame, settings)`: the pure drift engine.
- `latest_gauges(ws)`: the latest check's numbers for Prometheus.
"""

from __future__ import annotations


def latest_gauges(ws) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The latest check's drift and performance numbers, Prometheus-style.

    See `core.monitoring.prometheus.latest_gauges`.
    """
    from core.monitoring.prometheus import latest_gauges as gauges

    return gauges(ws)
