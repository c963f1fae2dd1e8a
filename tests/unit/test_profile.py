"""Column profiles and version comparison (`core.data.profile`)."""

import numpy as np
import pandas as pd
import pytest

from core.data.profile import (
    category_counts,
    column_kind,
    compare_frames,
    profile_frame,
    sample_rows,
)


def frame(values: list, cities: list) -> pd.DataFrame:
    return pd.DataFrame({"x": values, "city": pd.Series(cities, dtype="string")})


def test_column_kind_treats_bools_and_text_as_categorical():
    assert column_kind(pd.Series([1.0, 2.0])) == "numeric"
    assert column_kind(pd.Series([True, False])) == "categorical"
    assert column_kind(pd.Series(["a", None], dtype="string")) == "categorical"
    assert column_kind(pd.Series(pd.to_datetime(["2024-01-01"], utc=True))) == "datetime"


def test_profile_reports_missing_share_moments_and_top_category():
    prof = profile_frame(frame([1.0, 3.0, np.nan, 5.0], ["a", "a", "b", None]))

    assert prof.loc["x", "missing_share"] == 0.25
    assert prof.loc["x", "mean"] == pytest.approx(3.0)
    assert prof.loc["x", "std"] == pytest.approx(2.0)
    assert prof.loc["city", "top"] == "a"
    assert prof.loc["city", "top_share"] == pytest.approx(2 / 3)  # of the non-null values
    assert np.isnan(prof.loc["city", "mean"])


def test_profile_of_an_all_null_column_has_no_statistics():
    prof = profile_frame(pd.DataFrame({"x": [np.nan, np.nan]}))

    assert prof.loc["x", "missing_share"] == 1.0
    assert np.isnan(prof.loc["x", "mean"])


def test_compare_gives_row_counts_and_per_column_deltas():
    a = frame([1.0, 2.0, 3.0, 4.0], ["a", "b", "b", "b"])
    b = frame([2.0, 4.0, 6.0, np.nan, 8.0], ["a", "a", "a", "a", "b"])

    cmp = compare_frames(a, b)

    assert (cmp.rows_a, cmp.rows_b, cmp.rows_delta) == (4, 5, 1)
    assert cmp.columns.loc["x", "mean_delta"] == pytest.approx(5.0 - 2.5)
    assert cmp.columns.loc["x", "missing_share_delta"] == pytest.approx(0.2)
    assert cmp.columns.loc["city", "top_share_a"] == pytest.approx(0.75)
    assert cmp.columns.loc["city", "top_share_delta"] == pytest.approx(0.8 - 0.75)
    assert np.isnan(cmp.columns.loc["x", "top_share_delta"])


def test_compare_lists_added_and_removed_columns():
    a = pd.DataFrame({"keep": [1, 2], "old": [1, 2]})
    b = pd.DataFrame({"keep": [1, 2], "new": ["x", "y"]})

    cmp = compare_frames(a, b)

    assert (cmp.added, cmp.removed) == (["new"], ["old"])
    assert list(cmp.columns.index) == ["keep"]


def test_sample_rows_caps_large_frames_reproducibly():
    df = pd.DataFrame({"x": range(1000)})

    assert sample_rows(df, n=2000) is df
    small = sample_rows(df, n=100)
    assert len(small) == 100
    assert small.equals(sample_rows(df, n=100))


def test_category_counts_shows_nulls_and_shares():
    counts = category_counts(pd.Series(["a", "a", "a", None, None, "b"]), top=2)

    assert list(counts["value"]) == ["a", "<null>"]
    assert list(counts["count"]) == [3, 2]
    assert counts["share"].iloc[0] == 0.5
