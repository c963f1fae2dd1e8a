"""The Drift page's view of performance estimated before labels."""

from __future__ import annotations

from app.views import drift


def test_drift_estimate_frame_sets_estimated_beside_realized_with_the_assumption():
    record = {
        "estimated_performance": {"accuracy": 0.8, "roc_auc": 0.7},
        "estimate": {
            "metric": "roc_auc",
            "value": 0.7,
            "metrics": {"accuracy": 0.8, "roc_auc": 0.7},
            "assumption": "assumes covariate shift only",
            "calibration": "isotonic on 2,000 holdout rows",
            "prediction_shift": {
                "ks": 0.31,
                "p_value": 1e-9,
                "psi": 0.4,
                "current_mean": 0.6,
                "reference_mean": 0.3,
                "shifted": True,
            },  # fmt: skip
        },
        "performance": {"metric": "roc_auc", "metrics": {"accuracy": 0.75, "roc_auc": 0.72}},
    }
    frame = drift.estimate_frame(record)
    assert frame.set_index("metric")["realized"].to_dict() == {"accuracy": 0.75, "roc_auc": 0.72}
    assert frame.set_index("metric")["watched"].to_dict() == {"accuracy": False, "roc_auc": True}
    assert round(frame.set_index("metric").loc["accuracy", "difference"], 6) == -0.05
    caption = drift.estimate_caption(record)
    assert "covariate shift only" in caption and "isotonic on 2,000 holdout rows" in caption
    assert "PSI 0.400" in caption and caption.endswith("shifted.")
    series = drift.estimate_series([{"time": "2026-01-01T00:00:00+00:00", **record}])
    assert series.to_dict("records")[0]["realized"] == 0.72
    assert drift.estimate_frame({}).empty and drift.estimate_caption({}) == ""
