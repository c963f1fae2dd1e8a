"""The side-by-side of `simulate --compare`: headline totals, weekly metric, the target verdict."""

from __future__ import annotations

import io

from rich.console import Console

from scheduler.simulate.summary import compare_rows, print_comparison, totals, verdict


def run(trainings: int, notifications: int, weekly: list[float], metric="roc_auc") -> dict:
    summary = {
        "trainings": [{"day": "start"}] + [{"day": f"2013-01-{15 + i}"} for i in range(trainings)],
        "promotions": [{"day": "start"}, {"day": "2013-01-20"}],
        "operations": {
            "rollbacks": {"automatic": 1, "manual": 0},
            "incidents": {"opened": 3, "resolved": 2, "by_kind": {}},
            "notifications": notifications,
        },
        "performance_by_week": [
            {"week": f"2013-W0{3 + i}", "metric": metric, "value": v} for i, v in enumerate(weekly)
        ],
    }
    summary["totals"] = totals(summary)
    return summary


def test_totals_leave_out_the_first_training_and_champion():
    t = run(4, 9, [0.7, 0.6])["totals"]

    assert t["trainings"] == 4 and t["promotions"] == 1
    assert (t["automatic rollbacks"], t["incidents opened"], t["notifications"]) == (1, 3, 9)
    assert t["mean weekly metric"] == 0.65


def test_the_target_needs_the_metric_and_half_the_trainings_and_notifications():
    careful = run(5, 10, [0.70, 0.66]) | {"baseline": run(10, 20, [0.69, 0.66])}
    busier = run(6, 10, [0.70, 0.66]) | {"baseline": run(10, 20, [0.69, 0.66])}
    worse = run(5, 10, [0.65, 0.66]) | {"baseline": run(10, 20, [0.69, 0.66])}

    assert all(verdict(careful).values())
    assert verdict(busier)["at most half the trainings"] is False
    assert verdict(worse)["same or better weekly metric"] is False
    lower = run(5, 10, [10.0], "rmse") | {"baseline": run(10, 20, [12.0], "rmse")}
    assert verdict(lower)["same or better weekly metric"]  # a lower rmse is better


def test_the_comparison_prints_each_total_and_week_with_its_ratio():
    summary = run(5, 10, [0.70, 0.66]) | {"baseline": run(10, 20, [0.70, 0.60])}
    console = Console(file=io.StringIO(), width=200)

    print_comparison(summary, console)

    rows = {row[0]: row for row in compare_rows(summary)}
    assert rows["trainings"] == ("trainings", 5, 10, "0.50")
    assert rows["roc_auc 2013-W04"] == ("roc_auc 2013-W04", 0.66, 0.6, "1.100")
    text = console.file.getvalue()
    assert "retrain on every drift alert" in text and "yes  at most half the notifications" in text
