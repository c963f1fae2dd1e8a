"""Promotion gates of a model version: evaluated against the champion and stored on the version.

Both models are scored on the same holdout: the test split of the challenger's data version.
The report is stored on the model version as tags `gates.status` ("pass" | "fail") and
`gates.json` (`GateReport.to_dict()`), so the UI, CLI and audit log read one source. The
checks themselves are pure functions in `core.registry.checks`, re-exported here.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from core.errors import one_line
from core.registry import store
from core.registry.checks import (
    GateResult,
    Observations,
    gate_beat_champion,
    gate_latency,
    gate_min_metrics,
    gate_no_overfitting,
    gate_schema_compatible,
    json_safe,
    run_gates,
)
from core.registry.tracking import (
    TAG_DATA_VERSION,
    TAG_GATES_JSON,
    TAG_GATES_STATUS,
    TAG_OVERFIT,
)
from core.workspace import Workspace

__all__ = [
    "GateReport",
    "GateResult",
    "Observations",
    "evaluate_gates",
    "gate_beat_champion",
    "gate_latency",
    "gate_min_metrics",
    "gate_no_overfitting",
    "gate_schema_compatible",
    "json_safe",
    "load_gate_report",
    "measure_latency",
    "run_gates",
    "score",
]

LATENCY_ROWS = 1_000
LATENCY_REPEATS = 5


@dataclass
class GateReport:
    """All gates of one model version, with the holdout metrics of both models."""

    model: str
    version: str
    champion_version: str | None
    metric: str
    data_version: str | None
    holdout_rows: int
    gates: list[GateResult]
    metrics: dict[str, dict | None] = field(default_factory=dict)
    evaluated_at: str = ""

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def status(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def failure_summary(self) -> str:
        """`name (reason); ...` of the failing gates, for one-line messages."""
        return "; ".join(f"{g.name} ({g.reason})" for g in self.failed)

    def to_dict(self) -> dict:
        """A strict-JSON-safe dict (stored as the `gates.json` version tag)."""
        data = json_safe(asdict(self))
        data["status"] = self.status
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GateReport:
        kwargs = {
            k: data.get(k)
            for k in (
                "model",
                "version",
                "champion_version",
                "metric",
                "data_version",
                "evaluated_at",
            )
        }
        return cls(
            **kwargs,
            holdout_rows=int(data.get("holdout_rows") or 0),
            gates=[GateResult.from_dict(g) for g in data.get("gates", [])],
            metrics=data.get("metrics") or {},
        )


# --------------------------------------------------------------------------- evaluation
def score(model, X, y, task: str) -> dict[str, float]:
    """All metrics of the task for a fitted pipeline on (X, y)."""
    from core.training.metrics import compute_metrics

    proba = None
    if task == "classification" and hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
    return compute_metrics(task, y, model.predict(X), proba)


def measure_latency(model, X, rows: int = LATENCY_ROWS, repeats: int = LATENCY_REPEATS) -> float:
    """Median over `repeats` timed `predict` calls on up to `rows` rows, in ms per row."""
    sample = X.iloc[:rows]
    model.predict(sample)  # warm-up: lazy imports and caches are not the model's latency
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(sample)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / max(len(sample), 1)


def _observe(
    ws: Workspace, name: str, version: str, champion: str | None, split, tags: dict
) -> Observations:
    cfg, task = ws.config.gates, ws.config.task
    model = store.load_model(name, version)
    obs = Observations(
        challenger=score(model, split.X_test, split.y_test, task),
        overfit_flag=tags.get(TAG_OVERFIT),
    )
    if cfg.max_latency_ms_per_row is not None:
        obs.ms_per_row = measure_latency(model, split.X_test)
    if cfg.schema_compatible:
        obs.challenger_schema = store.input_schema(name, version)
    if champion is not None:
        if cfg.schema_compatible:
            obs.champion_schema = store.input_schema(name, champion)
        try:
            champ_model = store.load_model(name, champion)
            obs.champion = score(champ_model, split.X_test, split.y_test, task)
        except Exception as exc:  # any scoring failure is a gate outcome, not a crash
            obs.champion_error = one_line(exc)
    return obs


def evaluate_gates(ws: Workspace, name: str, version: str | int) -> GateReport:
    """Evaluate every configured gate for a version and store the report as version tags.

    The champion (when there is one and it is another version) is scored on the same
    holdout: the test split of the challenger's data version (the latest when untagged).
    """
    from core.training.data import load_split

    client = store.registry_client(ws)
    mv = store.get_version(client, name, version)
    champion = store.champion_version(client, name)
    champion = None if champion == str(mv.version) else champion
    tags, _ = store.run_data(client, store.version_run_id(mv))
    split = load_split(ws, (mv.tags or {}).get(TAG_DATA_VERSION) or tags.get(TAG_DATA_VERSION))
    obs = _observe(ws, name, str(mv.version), champion, split, tags)
    report = GateReport(
        model=name,
        version=str(mv.version),
        champion_version=champion,
        metric=ws.config.metric,
        data_version=split.version.id,
        holdout_rows=len(split.X_test),
        gates=run_gates(ws.config.gates, ws.config.metric, obs),
        metrics={"challenger": obs.challenger, "champion": obs.champion},
        evaluated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    client.set_model_version_tag(name, report.version, TAG_GATES_STATUS, report.status)
    client.set_model_version_tag(
        name, report.version, TAG_GATES_JSON, json.dumps(report.to_dict(), sort_keys=True)
    )
    return report


def load_gate_report(ws: Workspace, name: str, version: str | int) -> GateReport | None:
    """The stored gate report of a version, or None when it was never evaluated."""
    mv = store.get_version(store.registry_client(ws), name, version)
    raw = (mv.tags or {}).get(TAG_GATES_JSON)
    if not raw:
        return None
    try:
        return GateReport.from_dict(json.loads(raw))
    except (ValueError, TypeError, AttributeError):
        return None
