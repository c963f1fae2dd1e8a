"""The drift engine on synthetic data with known shifts, and its statistics against scipy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from core.config.monitoring import DriftConfig, ReferenceConfig
from core.errors import ConfigError
from core.monitoring import stats
from core.monitoring.drift import DriftInputError, check_drift
from core.monitoring.reference import ReferenceProfile, build_profile, infer_kind

NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = [f"c{i}" for i in range(4)]
MIX = ["a", "b", "c", "d"]
BASE_P = [0.4, 0.3, 0.2, 0.1]


def frame(n: int, seed: int, mean=None, scale=None, mix=None) -> pd.DataFrame:
    """8 normal columns and 4 categorical ones; `mean`/`scale`/`mix` shift named columns.

    Stratified draws (one uniform per 1/n quantile slice, exact category counts), shuffled:
    each column's empirical distribution is within 1/n of the true one, so the p-value tests
    (KS, chi-square at 5%) flag an unshifted column no more than a distance would, and
    "exactly these columns" does not depend on the seed.
    """
    rng = np.random.default_rng(seed)
    mean, scale, mix = mean or {}, scale or {}, mix or {}
    data = {}
    for c in NUMERIC:
        u = (np.arange(n) + rng.random(n)) / n
        data[c] = rng.permutation(sps.norm.ppf(u, mean.get(c, 0.0), scale.get(c, 1.0)))
    for c in CATEGORICAL:
        counts = np.round(np.asarray(mix.get(c, BASE_P)) * n).astype(int)
        counts[0] += n - counts.sum()
        data[c] = rng.permutation(np.repeat(np.array(MIX, dtype=object), counts))
    return pd.DataFrame(data)


def random_frame(n: int, seed: int) -> pd.DataFrame:
    """Plain random draws of the unshifted distributions."""
    rng = np.random.default_rng(seed)
    data = {c: rng.normal(0.0, 1.0, n) for c in NUMERIC}
    for c in CATEGORICAL:
        data[c] = rng.choice(np.array(MIX, dtype=object), n, p=BASE_P)
    return pd.DataFrame(data)


SHIFTS = {
    "mean": {"mean": {"x1": 0.6}},
    "variance": {"scale": {"x4": 2.0}},
    "category mix": {"mix": {"c2": [0.1, 0.2, 0.3, 0.4]}},
}


def profile_of(df: pd.DataFrame, **kwargs) -> ReferenceProfile:
    return build_profile(df, list(df.columns), **kwargs)


@pytest.mark.parametrize(
    ("rows", "methods"),
    [(5000, {"wasserstein", "jensenshannon"}), (800, {"ks", "chisquare"})],
    ids=["large-reference", "small-reference"],
)
def test_exactly_the_shifted_columns_are_flagged(rows, methods):
    shift = {"mean": {"x1": 0.6}, "scale": {"x4": 2.0}, "mix": {"c2": [0.1, 0.2, 0.3, 0.4]}}
    result = check_drift(profile_of(frame(rows, 1)), frame(rows, 2, **shift))

    assert sorted(result.drifted) == ["c2", "x1", "x4"]
    assert {c.method for c in result.columns.values()} == methods
    assert result.share == pytest.approx(3 / 12)
    assert not result.dataset_drift  # 25% < the default 50%


@pytest.mark.parametrize("kind", sorted(SHIFTS))
def test_each_kind_of_shift_is_caught_alone(kind):
    result = check_drift(profile_of(frame(4000, 3)), frame(4000, 4, **SHIFTS[kind]))

    expected = {"mean": ["x1"], "variance": ["x4"], "category mix": ["c2"]}[kind]
    assert result.drifted == expected


def test_a_same_distribution_split_flags_nothing():
    whole = random_frame(10_000, 5)
    reference, current = whole.iloc[:5000], whole.iloc[5000:]

    result = check_drift(profile_of(reference), current)

    assert {c.method for c in result.columns.values()} == {"wasserstein", "jensenshannon"}
    assert result.drifted == []
    assert not result.dataset_drift
    assert all(c.psi < 0.1 for c in result.columns.values())


def test_two_small_samples_of_one_distribution_flag_nothing_with_the_exact_tests():
    result = check_drift(profile_of(frame(700, 5)), frame(700, 6))

    assert {c.method for c in result.columns.values()} == {"ks", "chisquare"}
    assert result.drifted == []


def test_dataset_drift_when_the_drifted_share_reaches_the_configured_share():
    shift = {"mean": {c: 1.0 for c in NUMERIC[:6]}}
    profile = profile_of(frame(3000, 6))
    current = frame(3000, 7, **shift)

    assert check_drift(profile, current).dataset_drift  # 6 of 12 = 0.5 >= 0.5
    assert not check_drift(profile, current, DriftConfig(share=0.6)).dataset_drift


def test_psi_is_zero_for_identical_shares_and_matches_the_formula():
    same = np.array([0.5, 0.3, 0.2])
    assert stats.psi(same, same) == 0.0
    ref, cur = np.array([0.5, 0.5]), np.array([0.8, 0.2])
    expected = (0.5 - 0.8) * np.log(0.5 / 0.8) + (0.5 - 0.2) * np.log(0.5 / 0.2)
    assert stats.psi(ref, cur) == pytest.approx(expected)


def test_psi_is_reported_for_every_column_whatever_the_method():
    cfg = DriftConfig(numeric={"method": "ks"}, categorical={"method": "chisquare"})
    result = check_drift(profile_of(frame(2000, 8)), frame(2000, 9, **SHIFTS["mean"]), cfg)

    assert all(c.psi is not None and c.psi >= 0 for c in result.columns.values())
    assert result.columns["x1"].psi > result.columns["x0"].psi


def test_wasserstein_equals_scipy_on_random_data_with_ties():
    rng = np.random.default_rng(0)
    for trial in range(200):
        a = rng.integers(-5, 6, rng.integers(1, 60)).astype(float)
        b = rng.normal(size=rng.integers(1, 40)) if trial % 2 else rng.integers(-7, 8, 30) * 1.0
        values, counts = np.unique(b, return_counts=True)
        ours = stats.wasserstein(np.sort(a), values, counts.astype(float))
        assert ours == pytest.approx(sps.wasserstein_distance(a, b), abs=1e-9)


def test_a_quantile_sketch_stays_within_its_stored_error_bound():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.lognormal(0, 0.8, 50_000)})
    cur = pd.DataFrame({"x": rng.lognormal(0.05, 0.8, 20_000)})
    profile = profile_of(ref, cfg=ReferenceConfig(exact_values=0, quantiles=500))
    col = profile.columns["x"]
    assert not col.exact and col.sketch_error < 0.01

    ours = check_drift(profile, cur).columns["x"].score
    exact = sps.wasserstein_distance(ref["x"], cur["x"]) / np.std(ref["x"])
    assert abs(ours - exact) <= col.sketch_error + 1e-12


@pytest.mark.parametrize(
    ("kind", "rows", "values", "method"),
    [
        ("numeric", 1000, 6, "ks"),
        ("numeric", 1000, 5, "chisquare"),
        ("numeric", 1000, 2, "z"),
        ("categorical", 500, 3, "chisquare"),
        ("categorical", 500, 2, "z"),
        ("numeric", 1001, 6, "wasserstein"),
        ("numeric", 1001, 5, "jensenshannon"),
        ("categorical", 5000, 2, "jensenshannon"),
    ],
)
def test_default_method_follows_evidentlys_rule(kind, rows, values, method):
    assert stats.default_method(kind, rows, values) == method


def test_integer_columns_with_few_values_are_categorical_as_evidently_infers():
    assert infer_kind(pd.Series([1, 2, 3] * 10)) == "categorical"
    assert infer_kind(pd.Series(range(50))) == "numeric"
    assert infer_kind(pd.Series([1.0, 2.0] * 10)) == "numeric"
    assert infer_kind(pd.Series(["a", "b"])) == "categorical"
    assert infer_kind(pd.Series([True, False])) == "categorical"
    assert infer_kind(pd.Series(pd.to_datetime(["2024-01-01"]))) is None


def test_per_column_override_beats_the_per_type_one():
    cfg = DriftConfig(
        numeric={"method": "psi", "threshold": 0.5},
        columns={"x1": {"method": "ks", "threshold": 0.01}, "x2": {"threshold": 0.9}},
    )
    result = check_drift(profile_of(frame(3000, 10)), frame(3000, 11, **SHIFTS["mean"]), cfg)

    cols = result.columns
    assert (cols["x1"].method, cols["x1"].threshold) == ("ks", 0.01)
    assert (cols["x2"].method, cols["x2"].threshold) == ("psi", 0.9)
    assert (cols["x0"].method, cols["x0"].threshold) == ("psi", 0.5)
    assert cols["c0"].method == "jensenshannon"  # categorical default untouched
    assert cols["x2"].score == pytest.approx(cols["x2"].psi)


def test_a_method_that_does_not_fit_the_column_kind_names_the_column():
    cfg = DriftConfig(columns={"c1": {"method": "ks"}})
    with pytest.raises(ConfigError, match="c1"):
        check_drift(profile_of(frame(500, 12)), frame(500, 13), cfg)


def test_excluded_columns_are_not_checked():
    cfg = DriftConfig(exclude=["x1"])
    result = check_drift(profile_of(frame(2000, 14)), frame(2000, 15, **SHIFTS["mean"]), cfg)

    assert "x1" not in result.columns
    assert result.drifted == []


def test_missing_columns_in_the_current_data_are_named():
    current = frame(1000, 17).drop(columns=["x3", "c1"])
    with pytest.raises(DriftInputError, match="x3, c1"):
        check_drift(profile_of(frame(1000, 16)), current)


def test_missing_values_are_dropped_and_an_empty_column_is_skipped():
    reference, current = frame(2000, 18), frame(2000, 19)
    current.loc[::2, "x0"] = np.nan
    current["x5"] = np.nan

    result = check_drift(profile_of(reference), current)

    assert result.columns["x0"].current_rows == 1000
    assert not result.columns["x5"].checked
    assert "no numeric values" in result.columns["x5"].note
    assert len(result.checked) == 11


def test_profile_round_trips_through_json_and_parquet(tmp_path):
    reference, current = frame(800, 20), frame(800, 21, **SHIFTS["variance"])
    profile = profile_of(reference)
    before = check_drift(profile, current).to_json()

    profile.save(tmp_path)
    loaded = ReferenceProfile.load(tmp_path)

    assert check_drift(loaded, current).to_json() == before
    assert json.loads((tmp_path / "reference_profile.json").read_text())["rows"] == 800


def test_target_and_prediction_drift_are_reported_beside_the_features():
    rng = np.random.default_rng(22)
    reference = frame(3000, 23).assign(y=rng.integers(0, 2, 3000))
    predictions = pd.DataFrame({"prediction": rng.integers(0, 2, 3000)})
    profile = build_profile(
        reference, NUMERIC + CATEGORICAL, target="y", task="classification", predictions=predictions
    )
    current = frame(3000, 24).assign(y=(rng.random(3000) < 0.9).astype(int), prediction=1)

    result = check_drift(profile, current)

    assert result.target.drifted and result.prediction["prediction"].drifted
    assert result.drifted == []  # neither counts in the feature share
    out = result.to_json()
    assert set(out["columns"]["x0"]) == {"method", "score", "threshold", "drifted", "psi"}
    assert out["target_drift"]["drifted"] is True


def test_categorical_values_match_whatever_their_python_type():
    reference = pd.DataFrame({"k": [1, 2, 3] * 400})
    current = pd.DataFrame({"k": ["1", "2", "3"] * 400})

    result = check_drift(profile_of(reference), current)

    assert result.columns["k"].kind == "categorical"
    assert result.columns["k"].score == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- raw records
DERIVE = {"date_parts": [{"column": "t", "parts": ["month", "dayofweek", "hour", "is_weekend"]}]}
PARTS = ["t_month", "t_dayofweek", "t_hour", "t_is_weekend"]


def raw_frame(n: int, seed: int, **shift) -> pd.DataFrame:
    """`frame` plus a naive UTC timestamp `t` (hourly over two weeks), as a training split."""
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 14 * 24, n), unit="h")
    return frame(n, seed, **shift).assign(t=stamps)


def as_logged(df: pd.DataFrame) -> pd.DataFrame:
    """Rows as the prediction log decodes them: JSON values, timestamps as ISO strings."""
    records = json.loads(df.to_json(orient="records", date_format="iso", date_unit="s"))
    return pd.DataFrame.from_records(records)


def test_logged_iso_timestamps_give_the_date_parts_of_the_training_values():
    from core.config import FeaturesConfig
    from core.data.features import build_features
    from core.monitoring.inputs import derive_columns

    typed = pd.DataFrame({"t": pd.to_datetime(["2013-01-05 23:00", "2013-01-07 05:00", None])})
    logged = pd.DataFrame(
        {
            "zulu": ["2013-01-05T23:00:00Z", "2013-01-07T05:00:00Z", None],
            "naive": ["2013-01-05T23:00:00", "2013-01-07 05:00:00", None],
            "offset": ["2013-01-06T00:00:00+01:00", "2013-01-07T00:00:00-05:00", None],
        }
    )
    expected = build_features(typed, FeaturesConfig.model_validate(DERIVE))[PARTS]

    for form in logged.columns:
        got = derive_columns(logged[[form]].rename(columns={form: "t"}), DERIVE)
        pd.testing.assert_frame_equal(got[PARTS], expected, obj=form)
    assert expected["t_hour"].tolist()[:2] == [23.0, 5.0] and expected["t_hour"].isna()[2]


def test_a_raw_profile_watches_timestamps_through_their_parts_and_shifts_in_raw_columns():
    reference = raw_frame(3000, 30)
    profile = build_profile(reference, [*NUMERIC, *CATEGORICAL, "t"], derive=DERIVE)
    current = as_logged(raw_frame(3000, 31, mean={"x2": 0.8}))
    assert current["t"].map(type).eq(str).all()

    result = check_drift(profile, current)  # the parts are computed from the ISO strings

    assert set(profile.columns) == {*NUMERIC, *CATEGORICAL, *PARTS}  # no raw timestamp
    assert set(profile.sample_frame().columns) >= set(PARTS)
    assert result.drifted == ["x2"]
    assert all(result.columns[p].checked for p in PARTS if p != "t_month")
    prepared = profile.prepare(current)
    assert set(prepared.columns) >= set(PARTS) and prepared["t"].equals(current["t"])


def test_a_field_no_logged_record_has_is_reported_not_refused():
    profile = build_profile(raw_frame(1000, 32), [*NUMERIC, "t"], derive=DERIVE)
    current = as_logged(raw_frame(1000, 33)).drop(columns=["x6"])

    with pytest.raises(DriftInputError, match="x6"):  # a file lacking a column: refused
        check_drift(profile, current)
    result = check_drift(profile, profile.prepare(current, fill_missing=True))  # a log window

    assert not result.columns["x6"].checked and "no numeric values" in result.columns["x6"].note


def test_profiles_keep_how_they_derive_and_old_profiles_load_without(tmp_path):
    profile = build_profile(raw_frame(1000, 34), [*NUMERIC, "t"], derive=DERIVE)
    profile.save(tmp_path / "new")
    old = profile_of(frame(1000, 35))
    old.save(tmp_path / "old")
    path = tmp_path / "old" / "reference_profile.json"
    data = json.loads(path.read_text())
    data.pop("derive")  # a profile written before raw inputs (format 1)
    data["format"] = 1
    path.write_text(json.dumps(data))

    assert ReferenceProfile.load(tmp_path / "new").derive == DERIVE
    loaded = ReferenceProfile.load(tmp_path / "old")
    current = frame(1000, 36)
    assert loaded.derive is None and loaded.prepare(current) is current
    assert check_drift(loaded, current).drifted == []


def test_monitored_inputs_are_the_model_inputs_it_keeps_with_timestamps_as_parts():
    from sklearn.pipeline import Pipeline

    from core.data.features import FeatureBuilder
    from core.data.preprocess import RecordCleaner
    from core.monitoring.inputs import derived_names, monitored_inputs

    features = {
        **DERIVE,
        "interactions": [{"columns": ["x0", "x1"], "op": "subtract", "name": "gap"}],
        "bins": [{"column": "x2", "edges": [0.0]}],
    }
    X = raw_frame(200, 37)
    front = Pipeline(
        [
            ("clean", RecordCleaner(drop=["x7"], datetimes=["t"])),
            ("features", FeatureBuilder(features)),
        ]
    ).fit(X)

    columns, derive = monitored_inputs(X, front)
    _, engineered = monitored_inputs(X, front, engineered=True)

    assert columns == [c for c in X.columns if c not in ("x7", "t")]
    assert derive == {"date_parts": DERIVE["date_parts"]}
    assert derived_names(engineered) == [*PARTS, "gap", "x2_bin"]
    legacy = Pipeline([("preprocess", RecordCleaner())]).fit(X.drop(columns="t"))
    assert monitored_inputs(X.drop(columns="t"), legacy) == (list(X.columns.drop("t")), None)
