"""The champion's feature importance, computed at registration and kept in its reference profile."""

from __future__ import annotations

import pytest
from monitoring_helpers import forget_artifact_repos

from core.monitoring.profiles import load_reference

pytestmark = pytest.mark.slow


def test_the_reference_profile_weights_every_watched_column_by_the_models_reliance(trained_ws):
    forget_artifact_repos()
    profile = load_reference(trained_ws)
    forget_artifact_repos()

    importance = profile.importance
    assert set(importance) == set(profile.columns)
    assert sum(importance.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in importance.values())
    top = max(importance, key=importance.get)
    assert importance[top] > 1 / len(importance)  # the model leans on some columns more
    parts = [c for c in importance if c.startswith("time_hour_")]
    assert len({round(importance[c], 12) for c in parts}) == 1  # the timestamp's share, split
