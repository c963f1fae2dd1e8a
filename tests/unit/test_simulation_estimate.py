"""The simulation summary's estimated-before-labels column and its mean absolute error."""

from __future__ import annotations

from scheduler.simulate.summary import estimate_error


def test_estimate_error_is_the_mean_absolute_error_over_weeks_with_both_values():
    weeks = [
        {"week": "2024-W01", "value": 0.70, "estimated": 0.72},
        {"week": "2024-W02", "value": 0.66, "estimated": 0.62},
        {"week": "2024-W03", "value": None, "estimated": 0.60},  # no labels yet
        {"week": "2024-W04", "value": 0.65},  # a summary written before estimates
    ]
    assert estimate_error(weeks) == {"weeks": 2, "mae": 0.03, "max": 0.04}
    assert estimate_error(weeks[2:]) is None
