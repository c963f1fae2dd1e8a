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


def _estimated(ws: Workspace, metric: str, traffic: list[Traffic], calibrations: dict):
    """The metric estimated before labels (CBPE) from the served probabilities.

    Each day's predictions are calibrated by the version that served most of them (its
    holdout calibration, `core.monitoring.estimate.calibration_for`).
    """
    import pandas as pd

    from core.monitoring.estimate import calibration_for, estimate_groups
    from core.monitoring.profiles import load_reference

    if ws.config.task != "classification":
        return None
    groups = []
    for t in traffic:
        if not t.versions or not t.probabilities or any(p is None for p in t.probabilities):
            continue
        version = t.versions.most_common(1)[0][0]
        if version not in calibrations:
            try:
                calibrations[version] = calibration_for(ws, load_reference(ws, version))
            except Exception:  # noqa: BLE001 - a version without one is left out, not fatal
                calibrations[version] = None
        frame = pd.DataFrame({"prediction": t.predictions, "probability": t.probabilities})
        groups.append((calibrations[version], frame))
    value = estimate_groups(groups).get(metric)
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def weekly_performance(ws: Workspace, traffic: list[Traffic]) -> list[dict]:
    """The metric of the served predictions against their actual outcomes, per ISO week.

    `estimated`: the same metric estimated from the served probabilities alone, before labels.
    """
    weeks: dict[str, list[Traffic]] = {}
    for t in traffic:
        year, week, _ = date.fromisoformat(t.day).isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", []).append(t)
    metric, calibrations = ws.config.metric, {}
    return [
        {
            "week": week,
            "days": len(ts),
            "predictions": sum(len(t.request_ids) for t in ts),
            "metric": metric,
            "value": _metric(ws.config.task, metric, ts),
            "estimated": _estimated(ws, metric, ts, calibrations),
            "served_versions": sorted({v for t in ts for v in t.versions}, key=int),
        }
        for week, ts in sorted(weeks.items())
    ]


def estimate_error(weeks: list[dict]) -> dict | None:
    """Mean absolute error of the weekly estimates against the realized metric."""
    pairs = [
        (w["estimated"], w["value"]) for w in weeks if None not in (w.get("estimated"), w["value"])
    ]
    if not pairs:
        return None
    errors = [abs(e - v) for e, v in pairs]
    mae = sum(errors) / len(errors)
    return {"weeks": len(pairs), "mae": round(mae, 4), "max": round(max(errors), 4)}


def operations(ws: Workspace) -> dict:
    """Rollbacks (automatic and manual) from the audit; incidents and notifications sent."""
    from core.incidents import read_incidents
    from core.registry.audit import read_audit
    from core.registry.promotion import AUTO_ROLLBACK_ACTOR

    rollbacks = [r for r in read_audit(ws, ws.config.model_name) if r.get("action") == "rollback"]
    automatic = sum(1 for r in rollbacks if r.get("actor") == AUTO_ROLLBACK_ACTOR)
    incidents = read_incidents(ws)
    return {
        "rollbacks": {"automatic": automatic, "manual": len(rollbacks) - automatic},
        "incidents": {
            "opened": len(incidents),
            "resolved": sum(1 for i in incidents if i["status"] == "resolved"),
            "by_kind": dict(Counter(i["kind"] for i in incidents).most_common()),
        },
        "notifications": sum(i["notifications"] for i in incidents),
    }


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None


def totals(summary: dict) -> dict:
    """The headline counts of a summary (the first training and champion left out)."""
    ops = summary["operations"]
    return {
        "trainings": sum(1 for t in summary["trainings"] if t["day"] != "start"),
        "promotions": sum(1 for p in summary["promotions"] if p["day"] != "start"),
        "automatic rollbacks": ops["rollbacks"]["automatic"],
        "manual rollbacks": ops["rollbacks"]["manual"],
        "incidents opened": ops["incidents"]["opened"],
        "incidents resolved": ops["incidents"]["resolved"],
        "notifications": ops["notifications"],
        "mean weekly metric": _mean([w["value"] for w in summary["performance_by_week"]]),
    }


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
    summary = {
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
        "policy": _policy(sim.ws),
        "failed_runs": [
            {"day": r["day"], "job": r["job"], "error": r["error"]}
            for r in sim.runs
            if r["status"] == "failed"
        ],
        "predictions": sum(len(t.request_ids) for t in sim.traffic),
        "rejected_requests": sum(t.rejected for t in sim.traffic),
        "rejections": [f"{t.day}: {r}" for t in sim.traffic for r in t.rejections],
        "performance_by_week": weekly_performance(sim.ws, sim.traffic),
        "operations": operations(sim.ws),
        "seconds": _seconds(sim),
    }
    summary["totals"] = totals(summary)
    summary["estimate_error"] = estimate_error(summary["performance_by_week"])
    return summary


def _policy(ws: Workspace) -> dict:
    """The retraining and alerting policy the simulation ran under."""
    cfg = ws.config
    return {
        "alert_on": list(cfg.monitoring.alert_on),
        "retrain": cfg.monitoring.retrain.model_dump(),
        "remind_after_minutes": cfg.alerts.remind_after_minutes,
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
    ops = summary["operations"]
    console.print(
        f"rollbacks {ops['rollbacks']['automatic']} automatic, {ops['rollbacks']['manual']} "
        f"manual · incidents {ops['incidents']['opened']} opened, "
        f"{ops['incidents']['resolved']} resolved · notifications sent {ops['notifications']}",
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
    weeks = Table("week", "days", "predictions", "metric", "estimated", "served")
    weeks.title = "Model performance (estimated: before labels, from the probabilities)"
    for w in summary["performance_by_week"]:
        weeks.add_row(
            w["week"],
            str(w["days"]),
            f"{w['predictions']:,}",
            f"{w['metric']} {_num(w['value'])}",
            _num(w.get("estimated")),
            ", ".join(f"v{v}" for v in w["served_versions"]),
        )
    console.print(weeks)
    error = summary.get("estimate_error")
    if error:
        console.print(
            f"estimated vs realized {summary['performance_by_week'][0]['metric']}: mean absolute "
            f"error {error['mae']:.4f} over {error['weeks']} week(s) (max {error['max']:.4f}; "
            "assumes covariate shift only)",
            highlight=False,
        )
    for failure in summary["failed_runs"]:
        console.print(f"[red]{failure['day']} {failure['job']} failed:[/red] {failure['error']}")
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in summary["seconds"].items())
    console.print(f"time spent: {spent}", highlight=False)
    console.print(
        f"workspace: {summary['workspace']} (`workbench ui -w {summary['workspace']}`, "
        f"`workbench jobs history -w {summary['workspace']}`)",
        highlight=False,
    )


def compare_rows(summary: dict) -> list[tuple[str, object, object, str]]:
    """(what, this policy, baseline, ratio) for each headline count and each week's metric."""
    ours, base = summary["totals"], summary["baseline"]["totals"]
    rows = []
    for key, value in ours.items():
        other = base[key]
        ratio = f"{value / other:.2f}" if value is not None and other else "-"
        rows.append((key, value, other, ratio))
    theirs = {w["week"]: w["value"] for w in summary["baseline"]["performance_by_week"]}
    for week in summary["performance_by_week"]:
        other = theirs.get(week["week"])
        value = week["value"]
        ratio = f"{value / other:.3f}" if value is not None and other else "-"
        rows.append((f"{week['metric']} {week['week']}", value, other, ratio))
    return rows


SAME_METRIC = 0.002


def verdict(summary: dict) -> dict[str, bool]:
    """The target against retraining on every drift alert.

    The same or better mean weekly metric ("the same": within `SAME_METRIC`, well inside the
    sampling noise of a week's ROC-AUC on the demo's ~6,000 flights), with at most half its
    trainings and notifications.
    """
    from core.config import LOWER_IS_BETTER

    ours, base = summary["totals"], summary["baseline"]["totals"]
    metric, other = ours["mean weekly metric"], base["mean weekly metric"]
    lower = (summary["performance_by_week"] or [{}])[0].get("metric") in LOWER_IS_BETTER
    same_or_better = (
        metric is not None
        and other is not None
        and (metric <= other + SAME_METRIC if lower else metric >= other - SAME_METRIC)
    )
    return {
        "same or better weekly metric": same_or_better,
        "at most half the trainings": ours["trainings"] * 2 <= base["trainings"],
        "at most half the notifications": ours["notifications"] * 2 <= base["notifications"],
    }


def print_comparison(summary: dict, console) -> None:
    """This workspace's policy next to retraining on every drift alert, and the verdict."""
    from rich.table import Table

    table = Table(
        "",
        "this workspace's policy",
        "retrain on every drift alert",
        "ratio",
        title="Side by side: the same days, from the same first champion",
    )
    for what, ours, theirs, ratio in compare_rows(summary):
        shown = [_num(v) if isinstance(v, float) else str(v) for v in (ours, theirs)]
        table.add_row(what, *shown, ratio)
    console.print(table)
    for what, held in verdict(summary).items():
        console.print(f"{'yes' if held else 'NO '}  {what}", highlight=False)
