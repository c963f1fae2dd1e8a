"""The outcome of a simulation: data versions, trainings, promotions, drift, performance."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING

from core.workspace import Workspace
from scheduler.simulate.traffic import Traffic

if TYPE_CHECKING:  # pragma: no cover - typing only
    from scheduler.simulate.loop import Simulation


# --------------------------------------------------------------------------- the summary
def _metric(task: str, metric: str, traffic: list[Traffic]) -> float | None:
    from core.training.metrics import compute_metrics

    actual = [a for t in traffic for a in t.actuals]
    if not actual or (task == "classification" and len(set(actual)) < 2):
        return None
    predicted = [p for t in traffic for p in t.predictions]
    scores = [p for t in traffic for p in t.probabilities]
    usable = task == "classification" and all(s is not None for s in scores)
    value = compute_metrics(task, actual, predicted, scores if usable else None).get(metric)
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def weekly_performance(ws: Workspace, traffic: list[Traffic]) -> list[dict]:
    """The metric of the served predictions against their actual outcomes, per ISO week."""
    weeks: dict[str, list[Traffic]] = {}
    for t in traffic:
        year, week, _ = date.fromisoformat(t.day).isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", []).append(t)
    metric = ws.config.metric
    return [
        {
            "week": week,
            "days": len(ts),
            "predictions": sum(len(t.request_ids) for t in ts),
            "metric": metric,
            "value": _metric(ws.config.task, metric, ts),
            "served_versions": sorted({v for t in ts for v in t.versions}, key=int),
        }
        for week, ts in sorted(weeks.items())
    ]


def _ok(runs: list[dict], job: str) -> list[dict]:
    return [r for r in runs if r["job"] == job and r["status"] == "ok"]


def summarise(sim: Simulation, runtime_s: float) -> dict:
    """The simulation's outcome: data versions, trainings, promotions, drift, performance."""
    trainings = [
        {"day": r["day"], "trigger": r["trigger"], **r["summary"]}
        for r in _ok(sim.runs, "training_pipeline")
    ]
    checks = [{"day": r["day"], **r["summary"]} for r in _ok(sim.runs, "drift_check")]
    data = _ok(sim.runs, "data_pipeline")
    return {
        "workspace": str(sim.ws.root),
        "days": len(sim.traffic),
        "first_day": sim.traffic[0].day if sim.traffic else None,
        "last_day": sim.traffic[-1].day if sim.traffic else None,
        "runtime_s": round(runtime_s, 1),
        "data_versions": [r["summary"]["version"] for r in data if r["summary"].get("version")],
        "quarantined": [q["batch"] for r in data for q in r["summary"].get("rejected", [])],
        "trainings": trainings,
        "promotions": [
            {
                "day": t["day"],
                "from": t["champion_before"],
                "to": t["champion_after"],
                "reason": t["promotion_reason"],
                "gates": t["gates"],
            }
            for t in trainings
            if t["promoted"]
        ],
        "drift_checks": checks,
        "drift_alerts": sum(1 for c in checks if "monitoring.dataset_drift" in c["alerts"]),
        "performance_alerts": sum(1 for c in checks if "monitoring.performance" in c["alerts"]),
        "retrain_requests": sum(1 for c in checks if c.get("retrain_requested")),
        "failed_runs": [
            {"day": r["day"], "job": r["job"], "error": r["error"]}
            for r in sim.runs
            if r["status"] == "failed"
        ],
        "predictions": sum(len(t.request_ids) for t in sim.traffic),
        "rejected_requests": sum(t.rejected for t in sim.traffic),
        "performance_by_week": weekly_performance(sim.ws, sim.traffic),
        "seconds": _seconds(sim),
    }


def _seconds(sim: Simulation) -> dict[str, float]:
    """Where the time went: each job's runs, the traffic, the labels."""
    spent = Counter()
    for r in sim.runs:
        spent[r["job"]] += r["duration_s"] or 0.0
    spent.update(sim.seconds)
    return {k: round(v, 1) for k, v in spent.most_common()}


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_summary(summary: dict, console) -> None:
    """The summary as rich tables on `console`."""
    from rich.table import Table

    console.print(
        f"\nsimulated {summary['days']} day(s), {summary['first_day']} to {summary['last_day']},"
        f" in {summary['runtime_s']:.0f} s",
        highlight=False,
    )
    console.print(
        f"data versions {len(summary['data_versions'])} (quarantined batches "
        f"{len(summary['quarantined'])}) · trainings {len(summary['trainings'])} · promotions "
        f"{len(summary['promotions'])} · drift alerts {summary['drift_alerts']} · performance "
        f"alerts {summary['performance_alerts']} · retrain requests "
        f"{summary['retrain_requests']} · predictions {summary['predictions']:,}",
        highlight=False,
    )
    trainings = Table("day", "trigger", "version", "best", "test", "outcome", title="Trainings")
    for t in summary["trainings"]:
        outcome = (
            f"promoted ({t['promotion_reason']})"
            if t["promoted"]
            else f"gates {t['gates']}: " + "; ".join(t["gates_failed"])[:120]
        )
        trainings.add_row(
            t["day"], t["trigger"], f"v{t['version']}", t["best"], _num(t["test_metric"]), outcome
        )
    console.print(trainings)
    checks = Table("day", "dataset drift", "share", "drifted columns", "performance", "alerts")
    checks.title = "Drift and performance checks (of the previous day's predictions)"
    for c in summary["drift_checks"]:
        columns = c["drifted_columns"]
        checks.add_row(
            c["day"],
            "YES" if c["dataset_drift"] else "no",
            "-" if c["drift_share"] is None else f"{c['drift_share']:.0%}",
            ", ".join(columns[:5]) + (" ..." if len(columns) > 5 else ""),
            _num(c["performance"]),
            ", ".join(a.removeprefix("monitoring.") for a in c["alerts"]),
        )
    console.print(checks)
    weeks = Table("week", "days", "predictions", "metric", "served", title="Model performance")
    for w in summary["performance_by_week"]:
        weeks.add_row(
            w["week"],
            str(w["days"]),
            f"{w['predictions']:,}",
            f"{w['metric']} {_num(w['value'])}",
            ", ".join(f"v{v}" for v in w["served_versions"]),
        )
    console.print(weeks)
    for failure in summary["failed_runs"]:
        console.print(f"[red]{failure['day']} {failure['job']} failed:[/red] {failure['error']}")
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in summary["seconds"].items())
    console.print(f"time spent: {spent}", highlight=False)
    console.print(
        f"workspace: {summary['workspace']} (`workbench ui -w {summary['workspace']}`, "
        f"`workbench jobs history -w {summary['workspace']}`)",
        highlight=False,
    )
