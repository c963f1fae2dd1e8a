import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from core.config import FeaturesConfig, parse_config
from core.data.features import FeatureBuilder, build_features
from core.data.preprocess import build_transformer, cast_column, clean_batch, split_columns


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


def test_clean_batch_drops_dedupes_imputes_clips_and_casts(cfg, raw):
    out = clean_batch(raw, cfg)
    assert "junk" not in out.columns
    assert len(out) == 4  # one duplicate and one missing target removed
    assert out["x"].notna().all() and out["cat"].notna().all()
    assert out["cat"].iloc[2] == "a" or out["cat"].iloc[2] == "b"
    assert out["x"].max() < 1000  # clipped to the IQR fence
    assert pd.api.types.is_datetime64_any_dtype(out["ts"])


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
    assert numeric == ["x"] and categorical == ["cat"]
    tr = build_transformer(numeric, categorical, cfg.preprocessing)
    fitted = clone(tr).fit(data[numeric + categorical])
    new = pd.DataFrame({"x": [np.nan, 2.0], "cat": ["zzz", "a"]})
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
