import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from core.config import FeaturesConfig, parse_config
from core.data.features import FeatureBuilder, build_features
from core.data.preprocess import (
    RecordCleaner,
    build_transformer,
    cast_column,
    clean_batch,
    clip_fences,
    model_front,
    split_columns,
)


@pytest.fixture
def cfg():
    return parse_config(
        {
            "task": "classification",
            "target": "y",
            "time_column": "ts",
            "preprocessing": {
                "drop_columns": ["junk"],
                "clip": {"method": "iqr", "threshold": 1.5, "columns": ["x"]},
            },
            "features": {"date_parts": [{"column": "ts", "parts": ["month", "hour"]}]},
        }
    )


@pytest.fixture
def raw():
    return pd.DataFrame(
        {
            "ts": [
                "2013-01-01T05:00:00Z",
                "2013-01-02T06:00:00Z",
                "2013-01-02T06:00:00Z",
                "2013-01-03T07:00:00Z",
                "2013-01-05T08:00:00Z",
                "2013-01-06T09:00:00Z",
            ],
            "x": [1.0, 2.0, 2.0, np.nan, 3.0, 1000.0],
            "cat": ["a", "b", "b", None, "b", "a"],
            "junk": [1, 2, 2, 3, 4, 5],
            "y": [0, 1, 1, 0, None, 1],
        }
    )


def test_clean_batch_keeps_values_as_the_source_has_them_minus_batch_level_work(cfg, raw):
    out = clean_batch(raw, cfg)
    assert len(out) == 4  # one duplicate and one missing target removed
    assert pd.api.types.is_datetime64_any_dtype(out["ts"])
    # dropping, clipping and imputing belong to the model (fitted on training rows only)
    assert "junk" in out.columns
    assert out["x"].max() == 1000 and out["x"].isna().sum() == 1
    assert out["cat"].isna().sum() == 1


def test_record_cleaner_fits_fences_on_training_rows_and_applies_them_to_new_records(cfg, raw):
    n = 50
    many = pd.DataFrame(
        {
            "ts": pd.date_range("2013-01-01", periods=n, freq="h", tz="UTC").astype(str),
            "x": np.r_[np.linspace(1.0, 3.0, n - 1), 1000.0],
            "cat": ["a", "b"] * (n // 2),
            "junk": range(n),
            "y": [0, 1] * (n // 2),
        }
    )
    train = clean_batch(many, cfg).drop(columns="y")
    front = model_front(cfg).fit(train)
    low, high = front.named_steps["clean"].fences_["x"]
    assert high < 1000
    served = pd.DataFrame(
        {"ts": ["2013-02-01T10:00:00+05:00"], "x": [5000], "cat": ["a"], "junk": [7]}
    )
    out = front.transform(served)
    assert out["x"].tolist() == [high]  # clipped to the fence learnt in training
    assert "junk" not in out.columns
    assert out["ts_month"].tolist() == [2.0] and out["ts_hour"].tolist() == [5.0]  # in UTC
    assert "ts" in out.columns  # kept, not a model input: the ColumnTransformer skips datetimes


def test_a_zero_inflated_column_is_not_collapsed_by_its_clip_fences():
    rng = np.random.default_rng(0)
    rain = np.where(rng.random(2000) < 0.85, 0.0, rng.gamma(1.0, 0.1, 2000)).round(2)
    rain[:3] = [5.0, 6.0, 7.0]  # a storm: the outliers clipping exists for
    q1, q3 = np.percentile(rain, [25, 75])
    assert q1 == q3 == 0.0  # plain IQR fences would be [0, 0] and erase every wet hour
    cleaner = RecordCleaner(clip={"method": "iqr", "threshold": 3.0}).fit(pd.DataFrame({"r": rain}))
    low, high = cleaner.fences_["r"]
    assert low <= 0.0 < 0.3 < high < 5.0
    out = cleaner.transform(pd.DataFrame({"r": rain}))["r"].to_numpy()
    wet = rain > 0
    assert (out[wet] > 0).all()  # no non-zero value erased
    assert (out[~wet] == 0).all()
    assert out[:3].max() == high  # the storm is still clipped
    unchanged = (rain > 0) & (rain <= high)
    assert np.array_equal(out[unchanged], rain[unchanged])


def test_a_constant_column_is_left_unclipped():
    assert clip_fences(pd.Series([2.0] * 50), "iqr", 3.0) == (-np.inf, np.inf)
    assert clip_fences(pd.Series([2.0] * 50), "zscore", 3.0) == (-np.inf, np.inf)
    cleaner = RecordCleaner(clip={"method": "iqr"}).fit(pd.DataFrame({"c": [2.0] * 50}))
    assert cleaner.fences_ == {}


def test_record_cleaner_casts_raw_json_values_like_training_data():
    train = pd.DataFrame(
        {"n": [1, 2, 3], "s": ["a", "b", "c"], "t": pd.to_datetime(["2013-01-01"] * 3, utc=True)}
    )
    cleaner = RecordCleaner().fit(train)
    assert cleaner.kinds_ == {"n": "float", "s": "string", "t": "datetime"}
    out = cleaner.transform(
        pd.DataFrame({"n": [None, "4"], "s": ["x", None], "t": ["2013-01-01T00:00:00Z", None]})
    )
    assert out["n"].dtype == "float64" and np.isnan(out["n"][0]) and out["n"][1] == 4.0
    assert pd.api.types.is_datetime64_any_dtype(out["t"]) and out["t"].isna().tolist() == [
        False,
        True,
    ]


def test_clean_batch_does_not_mutate_its_input(cfg, raw):
    copy = raw.copy()
    clean_batch(raw, cfg)
    pd.testing.assert_frame_equal(raw, copy)


def test_cast_column_turns_garbage_into_nulls():
    assert cast_column(pd.Series(["1", "x", "3"]), "integer").isna().tolist() == [
        False,
        True,
        False,
    ]
    assert cast_column(pd.Series(["true", "0", "maybe"]), "bool").tolist()[:2] == [True, False]


def test_transformer_fits_in_a_pipeline_and_handles_unseen_categories(cfg, raw):
    data = clean_batch(raw, cfg)
    numeric, categorical = split_columns(data, {"y", "ts"})
    assert numeric == ["x", "junk"] and categorical == ["cat"]
    tr = build_transformer(numeric, categorical, cfg.preprocessing)
    fitted = clone(tr).fit(data[numeric + categorical])
    new = pd.DataFrame({"x": [np.nan, 2.0], "junk": [1, None], "cat": ["zzz", "a"]})
    out = fitted.transform(new)
    assert out.shape[0] == 2 and np.isfinite(out).all()


def test_build_features_date_parts_interactions_bins():
    cfg = FeaturesConfig.model_validate(
        {
            "date_parts": [{"column": "ts", "parts": ["month", "dayofweek", "hour", "is_weekend"]}],
            "interactions": [{"columns": ["a", "b"], "op": "divide"}],
            "bins": [{"column": "a", "edges": [1.5, 2.5]}],
            "drop": ["b"],
        }
    )
    df = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2013-01-05 10:00", "2013-07-01 23:00"], utc=True),
            "a": [1.0, 3.0],
            "b": [0.0, 2.0],
        }
    )
    out = build_features(df, cfg)
    assert out["ts_month"].tolist() == [1, 7]
    assert out["ts_is_weekend"].tolist() == [1.0, 0.0]  # a Saturday, a Monday
    assert out["ts_hour"].tolist() == [10, 23]
    assert np.isnan(out["a_per_b"].iloc[0]) and out["a_per_b"].iloc[1] == 1.5
    assert out["a_bin"].tolist() == [0.0, 2.0]
    assert "b" not in out.columns


def test_feature_builder_is_a_cloneable_stateless_transformer():
    fb = FeatureBuilder({"interactions": [{"columns": ["a", "b"]}]})
    df = pd.DataFrame({"a": [2.0], "b": [3.0]})
    pipe = make_pipeline(clone(fb))
    assert pipe.fit_transform(df)["a_x_b"].tolist() == [6.0]
    assert list(fb.fit(df).get_feature_names_out()) == ["a", "b", "a_x_b"]


def test_missing_feature_source_column_names_it():
    cfg = FeaturesConfig.model_validate({"bins": [{"column": "nope", "edges": [1]}]})
    with pytest.raises(KeyError, match="nope"):
        build_features(pd.DataFrame({"a": [1]}), cfg)
