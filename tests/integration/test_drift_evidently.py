"""Our drift values against Evidently's on the flights demo, for every method both compute.

Evidently is the reference implementation: its stattests (the functions `DataDriftPreset`
calls) and one full `Report([DataDriftPreset()])` run are compared column by column with
`check_drift` on the same reference and current rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from core.config.monitoring import DriftConfig
from core.monitoring.drift import check_drift
from core.monitoring.reference import build_profile

pytestmark = pytest.mark.slow

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def demo_features(versioned_template) -> tuple[pd.DataFrame, list[str]]:
    """The demo's rows as monitoring sees them: the raw inputs the model keeps, the timestamp
    through its date parts (computed as a check computes them)."""
    from core.monitoring.inputs import derive_columns, derive_spec, derived_names
    from core.workspace import Workspace

    cfg = Workspace.open(versioned_template).config
    frame = pd.read_parquet(versioned_template / "data" / "processed" / "processed.parquet")
    derive = derive_spec(cfg.features.model_dump(), {"time_hour"}, engineered=False)
    frame = derive_columns(frame, derive)
    skip = {"time_hour", "delayed", *cfg.preprocessing.drop_columns, *derived_names(derive)}
    features = [c for c in frame.columns if c not in skip] + derived_names(derive)
    return frame, features


def _days(frame: pd.DataFrame) -> list[pd.DataFrame]:
    day = frame["time_hour"].dt.date
    return [frame[day == d] for d in sorted(day.unique())]


def evidently_values(reference, current, result, configured=False) -> dict[str, tuple]:
    """Evidently's (method, score, drifted, psi) per column our check looked at.

    `configured`: ask Evidently for the method our check used, not its default choice.
    """
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    out = {}
    for name, col in result.columns.items():
        kind = ColumnType.Numerical if col.kind == "numeric" else ColumnType.Categorical
        ref = reference[name].replace([np.inf, -np.inf], np.nan).dropna()
        cur = current[name].replace([np.inf, -np.inf], np.nan).dropna()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = get_stattest(ref, cur, kind, col.method if configured else None)
            verdict = test(ref, cur, kind, None)
            psi = get_stattest(ref, cur, kind, "psi")(ref, cur, kind, None)
        out[name] = (test.name, verdict.drift_score, verdict.drifted, psi.drift_score)
    return out


def assert_agree(ours, theirs) -> None:
    for name, (method, score, drifted, psi) in theirs.items():
        col = ours.columns[name]
        assert col.method == method, name
        assert col.score == pytest.approx(score, rel=TOLERANCE, abs=TOLERANCE), name
        assert col.drifted == drifted, name
        assert col.psi == pytest.approx(psi, rel=TOLERANCE, abs=TOLERANCE), name


def test_large_reference_matches_evidentlys_wasserstein_and_jensen_shannon(demo_features):
    frame, features = demo_features
    days = _days(frame)
    reference, current = pd.concat(days[:2]), days[2]
    assert len(reference) > 1000

    result = check_drift(build_profile(reference, features), current)

    theirs = evidently_values(reference, current, result)
    assert {m for m, *_ in theirs.values()} == {"wasserstein", "jensenshannon"}
    assert_agree(result, theirs)


def test_small_reference_matches_evidentlys_ks_chi_square_and_z(demo_features):
    frame, features = demo_features
    days = _days(frame)
    reference, current = days[0].iloc[:800], days[2]

    result = check_drift(build_profile(reference, features), current)

    theirs = evidently_values(reference, current, result)
    assert {"ks", "chisquare", "z"} <= {m for m, *_ in theirs.values()}
    assert_agree(result, theirs)


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "ks"])
def test_configured_methods_match_evidently_too(demo_features, method):
    frame, features = demo_features
    days = _days(frame)
    reference, current = pd.concat(days[:2]), days[2]
    numeric_only = method == "ks"
    cfg = DriftConfig(
        numeric={"method": method}, categorical={} if numeric_only else {"method": method}
    )

    result = check_drift(build_profile(reference, features), current, cfg)

    theirs = evidently_values(reference, current, result, configured=True)
    theirs = {n: v for n, v in theirs.items() if result.columns[n].method == method}
    assert len(theirs) >= 10
    assert_agree(result, theirs)


def test_a_full_evidently_report_gives_our_scores_and_share(demo_features):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    frame, features = demo_features
    days = _days(frame)
    reference, current = pd.concat(days[:2]), days[2]
    result = check_drift(build_profile(reference, features), current)
    kinds = {n: c.kind for n, c in result.columns.items()}
    definition = DataDefinition(
        numerical_columns=[n for n, k in kinds.items() if k == "numeric"],
        categorical_columns=[n for n, k in kinds.items() if k == "categorical"],
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset(columns=list(kinds))]).run(
            Dataset.from_pandas(current[list(kinds)], data_definition=definition),
            Dataset.from_pandas(reference[list(kinds)], data_definition=definition),
        )

    metrics = snapshot.dict()["metrics"]
    share = next(m["value"]["share"] for m in metrics if "DriftedColumnsCount" in m["metric_name"])
    scores = {
        m["config"]["column"]: float(m["value"])
        for m in metrics
        if "ValueDrift" in m["metric_name"]
    }
    assert share == pytest.approx(result.share)
    assert set(scores) == set(kinds)
    for name, score in scores.items():
        assert result.columns[name].score == pytest.approx(score, rel=TOLERANCE, abs=TOLERANCE)
