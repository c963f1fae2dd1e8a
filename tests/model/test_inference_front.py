"""The array path replays the record front (`RecordCleaner` + `FeatureBuilder`) exactly: timestamp
parsing, date parts, interactions, bins, clipping, boolean casts, on synthetic raw records that
use every feature the demos do not (fast: no workspace)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import core.serving.inference as inference
from core.config import parse_config
from core.data.preprocess import clean_batch
from core.serving.inference import PARTS, compile_model, probe_records, stamp_parts
from core.training.candidates import build_pipeline, catalogue

OFFSETS = ["Z", "+00:00", "-05:00", "+05:30", "+14:00", "-12:00", ""]


def _stamp(rng: np.random.Generator) -> str:
    seconds = int(rng.integers(1_300_000_000, 1_500_000_000))
    text = pd.Timestamp(seconds, unit="s").strftime("%Y-%m-%dT%H:%M:%S")
    return text + OFFSETS[int(rng.integers(0, len(OFFSETS)))]


def _raw(n: int, seed: int) -> pd.DataFrame:
    """Raw rows as a source has them: ISO strings, numbers with gaps and outliers, flags."""
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    x[rng.random(n) < 0.05] = 1e4  # far beyond the fences
    x[rng.random(n) < 0.1] = np.nan
    count = rng.integers(0, 5, n).astype("float64")  # zeros: division by zero
    count[rng.random(n) < 0.1] = np.nan
    stamps = [_stamp(rng) for _ in range(n)]
    return pd.DataFrame(
        {
            "ts": stamps,
            "day": [s[:10] for s in stamps],  # a plain string field, also read as a date
            "x": x,
            "count": count,
            "flag": [["true", "false", None][j] for j in rng.integers(0, 3, n)],
            "cat": [["a", "b", "c", None][j] for j in rng.integers(0, 4, n)],
            "junk": rng.normal(0, 1, n),
            "y": (x > 10).astype(int) ^ (rng.random(n) < 0.2),
        }
    )


@pytest.fixture(scope="module")
def cfg():
    return parse_config(
        {
            "task": "classification",
            "target": "y",
            "time_column": "ts",
            "preprocessing": {
                "drop_columns": ["junk"],
                "cast": {"flag": "bool", "cat": "string"},
                "clip": {"method": "iqr", "threshold": 1.5},  # every numeric column
                "max_categories": 8,
            },
            "features": {
                "date_parts": [
                    {"column": "ts", "parts": list(PARTS)},
                    {"column": "day", "parts": ["dayofweek", "is_weekend"]},
                ],
                "interactions": [
                    {"columns": ["x", "count"], "op": "divide"},  # x_per_count, then dropped
                    {"columns": ["x", "ts_hour"], "op": "multiply"},
                    {"columns": ["x", "count"], "op": "add", "name": "x"},  # overwrites x
                    {"columns": ["x", "x"], "op": "subtract", "name": "zero"},
                ],
                "bins": [
                    {"column": "x_per_count", "edges": [0.5, 2.0, 8.0]},
                    {"column": "count", "edges": [3.0, 2.0, 1.0], "name": "count_down"},
                    {"column": "x", "edges": [5.0, 10.0, 15.0]},
                ],
                "drop": ["x_per_count", "ts"],
            },
        }
    )


@pytest.fixture(scope="module")
def train(cfg):
    raw = clean_batch(_raw(600, seed=1), cfg)
    return raw.drop(columns="y"), raw["y"]


def _fields(X: pd.DataFrame, y: pd.Series) -> list[tuple[str, str]]:
    from core.serving.inference import signature_fields
    from core.training.tracker import raw_signature

    sig = raw_signature(X, y)
    return signature_fields(sig)


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-like records: strings for the timestamps and flags, None for every gap."""
    out = []
    for row in frame.astype(object).to_dict(orient="records"):
        record = {}
        for k, v in row.items():
            if v is None or v is pd.NA or isinstance(v, float) and np.isnan(v):
                v = None
            elif k == "flag":
                v = v == "true"
            record[k] = v
        out.append(record)
    return out


def _fit(name: str, cfg, X, y):
    pipe = build_pipeline(catalogue("classification")[name], X, cfg, seed=0)
    est = pipe.steps[-1][1]
    est.set_params(**{k: v for k, v in {"n_estimators": 10}.items() if k in est.get_params()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipe.fit(X, y)


@pytest.mark.parametrize("name", ["logistic_regression", "lightgbm", "naive_bayes"])
def test_the_front_replays_exactly_in_batches_and_one_by_one(name, cfg, train):
    X, y = train
    fields = _fields(X, y)
    assert dict(fields)["ts"] == "datetime" and dict(fields)["flag"] == "boolean"
    pipe = _fit(name, cfg, X, y)
    compiled = compile_model(pipe, fields)
    assert compiled is not None and compiled.front is not None
    records = _records(_raw(300, seed=2).drop(columns="y"))
    columns = [c for c, _ in fields]
    frame = pd.DataFrame.from_records(records, columns=columns)
    expected = pipe[:-1].transform(frame)
    assert np.array_equal(compiled.transform_records(records), expected, equal_nan=True)
    alone = np.vstack([compiled.transform_records([r]) for r in records[:40]])
    assert np.array_equal(alone, expected[:40], equal_nan=True)
    preds, proba = compiled.predict_records(records)
    assert np.array_equal(preds, pipe.predict(frame))
    assert np.allclose(proba, pipe.predict_proba(frame), rtol=0, atol=1e-12)
    rows = [[r[c] for c in reversed(columns)] for r in records]
    assert np.array_equal(compiled.predict_rows(list(reversed(columns)), rows)[0], preds)
    data = {c: [r[c] for r in records] for c in reversed(columns)}  # the validation's columns
    assert np.array_equal(compiled.transform_columns(data, 300), expected, equal_nan=True)
    for n in (1, 6, 7):  # either side of the few-rows path
        few = {c: values[:n] for c, values in data.items()}
        assert np.array_equal(compiled.transform_columns(few, n), expected[:n], equal_nan=True)


def test_probes_hold_raw_values_beyond_the_fences_and_odd_timestamps(cfg, train):
    X, y = train
    pipe = _fit("logistic_regression", cfg, X, y)
    compiled = compile_model(pipe, _fields(X, y))
    probes = probe_records(compiled, n=200, seed=3)
    low, high = pipe.named_steps["clean"].fences_["count"]
    counts = [r["count"] for r in probes]
    assert None in counts and any(v is not None and v > high for v in counts)
    assert any(v is not None and v < low for v in counts)
    stamps = [r["ts"] for r in probes]
    assert None in stamps and all(s is None or isinstance(s, str) for s in stamps)
    assert any(s and s.endswith("Z") for s in stamps) and any(s and "+05:30" in s for s in stamps)
    assert {r["flag"] for r in probes} == {True, False, None}
    assert any(str(r["cat"]).startswith("\x00") for r in probes)  # an unseen category
    for seed in range(5):  # the pipeline agrees on other probe sets too
        records = probe_records(compiled, n=100, seed=seed + 10)
        frame = pd.DataFrame.from_records(records, columns=[c for c, _ in compiled.fields])
        got = compiled.transform_records(records)
        assert np.array_equal(got, pipe[:-1].transform(frame), equal_nan=True)


def test_a_wrong_replay_is_caught_at_load_and_falls_back_to_pandas(cfg, train, monkeypatch):
    X, y = train
    pipe = _fit("logistic_regression", cfg, X, y)
    fields = _fields(X, y)
    compiled = compile_model(pipe, fields)
    front = compiled.front
    unclipped = dataclasses.replace(front, lows=front.lows[:0], highs=front.highs[:0], fences=[])
    with pytest.raises(inference.NotCompilable):
        inference._verify(dataclasses.replace(compiled, front=unclipped), pipe, fields)

    def local_time(value):  # the wall-clock time, without the conversion to UTC
        try:
            return inference._parts(pd.Timestamp(value))
        except ValueError:
            return inference._NAT

    monkeypatch.setattr(inference, "_cached_parts", local_time)
    assert compile_model(pipe, fields) is None


def test_an_unsupported_front_step_falls_back_to_pandas(cfg, train):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = train
    pipe = _fit("logistic_regression", cfg, X, y)
    extra = Pipeline([("noop", FunctionTransformer()), *pipe.steps]).fit(X, y)
    assert compile_model(extra, _fields(X, y)) is None


STAMPS = [
    "2013-01-05T04:00:00Z",
    "2013-01-05T23:30:00-05:00",
    "2013-12-31T23:30:00-01:00",
    "2016-02-29T00:30:00+05:30",
    "2013-01-05",
    "2013-01-05 04:00",
    "2013-01-05T04:00:00.123456",
    "2013-01-05T04:00:00.9999999+00:00",
    "20130105T040000",
    "2013-01-05T04",
    "2013-W01-1",
    "2013-01-05T04:00:00,5",
    "2013-01-05T04:00:00+05:30:15",
    "2013-01-05T24:00:00",
    "2013-02-30",
    "1677-01-01T00:00:00Z",
    "2262-06-01T00:00:00Z",
    "2261-12-31T23:00:00-05:00",
    "9999-12-31",
    "0001-01-01T00:02:00+01:00",  # before year 1 in UTC: no datetime can hold it
    "9999-12-31T23:59:00-01:00",  # after year 9999 in UTC
    "",
    "not a date",
    "NaT",
    "today",
    None,
]


def _pandas_parts(values: list) -> np.ndarray:
    series = pd.Series(values, dtype=object)
    stamp = pd.to_datetime(series, utc=True, format="mixed", errors="coerce")
    return np.column_stack(
        [(stamp.dt.dayofweek >= 5) if p == "is_weekend" else getattr(stamp.dt, p) for p in PARTS]
    ).astype("float64")


def test_timestamp_parts_equal_pandas_for_iso_strings_every_offset_and_odd_values():
    rng = np.random.default_rng(0)
    values = list(STAMPS)
    for minutes in range(-23 * 60 - 59, 24 * 60, 17):  # offsets across the whole range
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        values.append(_stamp(rng)[:19] + offset)
        values.append("2013-12-31T22:00" + offset)  # around the turn of the year
    values += [_stamp(rng) for _ in range(500)]
    got = np.array([stamp_parts(v) for v in values])
    expected = _pandas_parts(values)
    pairs = zip(values, got, expected, strict=True)
    assert not [v for v, a, b in pairs if not np.array_equal(a, b, equal_nan=True)]
    assert np.isnan(stamp_parts(None)[:6]).all() and stamp_parts(None)[6] == 0.0  # NaN >= 5
