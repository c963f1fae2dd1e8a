"""Model behaviour on the demo (Made-With-ML style): minimum functionality, invariance and
directional expectations, for the registered champion of each task, on RAW records.

The registered model is one Pipeline from a raw record (a landing row minus the target: strings,
numbers, ISO-8601 timestamps, null for missing) to a prediction, so every check here feeds it
records as clients send them (`json_records`, the conversion of `workbench simulate`) and never
an engineered feature. The flights champion is trained by the `trained_template` fixture on the
demo's first three days (1-3 January 2013; logistic regression or LightGBM, whichever wins):
each directional check below holds for both learners on that data, and would fail for a model
that learned the opposite.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from workspaces import set_training

from core.data.pipeline import run_pipeline
from core.data.readers import read_table
from core.serving.inference import signature_fields
from core.serving.records import json_records
from core.training.data import load_split
from core.training.metrics import compute_metrics
from core.training.train import train
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

pytestmark = pytest.mark.slow

NEW_YORK = "America/New_York"


class Champion:
    """The registered champion of a workspace (scikit-learn flavour), its raw input fields and
    the holdout split, with helpers that score JSON records as the API receives them."""

    def __init__(self, ws: Workspace) -> None:
        mlflow.set_tracking_uri(ws.tracking_uri)
        self.ws = ws
        self.uri = f"models:/{ws.config.model_name}@champion"
        self.model = mlflow.sklearn.load_model(self.uri)
        self.pyfunc = mlflow.pyfunc.load_model(self.uri)  # what `mlflow models serve` runs
        self.fields = signature_fields(mlflow.models.get_model_info(self.uri).signature)
        self.names = [name for name, _ in self.fields]
        self.split = load_split(ws)

    def records(self, frame: pd.DataFrame) -> list[dict]:
        """Rows of a raw table as `/predict` records (the model's fields, JSON values)."""
        return json_records(frame, self.fields)

    def frame(self, records: list[dict]) -> pd.DataFrame:
        """JSON records as the frame a server builds from them."""
        return pd.DataFrame(records, columns=self.names)

    def proba(self, records: list[dict]) -> np.ndarray:
        """Probability of the positive class (a delay) per record."""
        return self.model.predict_proba(self.frame(records))[:, 1]

    def predict(self, records: list[dict]) -> np.ndarray:
        return self.model.predict(self.frame(records))

    def holdout(self) -> list[dict]:
        return self.records(self.split.X_test)


def with_values(records: list[dict], **values) -> list[dict]:
    return [r | values for r in records]


@pytest.fixture(scope="module")
def flights(trained_template) -> Champion:
    return Champion(Workspace.open(trained_template))


@pytest.fixture(scope="module")
def computers(tmp_path_factory) -> Champion:
    root = tmp_path_factory.mktemp("computers") / "ws"
    init_workspace(root, demo="computers", initial=8)
    assert run_pipeline(Workspace.open(root)).status == "ok"
    ws = set_training(root, candidates=["ridge", "lightgbm"])
    train(ws)
    return Champion(ws)


# ------------------------------------------------------------------ flights: minimum functionality
def test_flights_champion_beats_chance_on_the_holdout(flights):
    proba = flights.model.predict_proba(flights.frame(flights.holdout()))
    y = flights.split.y_test
    metrics = compute_metrics("classification", y, proba.argmax(1), proba)
    assert metrics["roc_auc"] > 0.6
    assert np.allclose(proba.sum(axis=1), 1.0) and ((proba >= 0) & (proba <= 1)).all()


def test_a_held_back_day_scores_the_same_as_a_frame_and_record_by_record(flights):
    day = sorted(flights.ws.holdback.iterdir())[0]
    raw = read_table(day).drop(columns=[flights.ws.config.target])  # strings, as the file has
    records = flights.records(raw)

    on_frame = flights.model.predict_proba(raw[flights.names])[:, 1]
    in_batch = flights.proba(records)
    reversed_batch = flights.proba(records[::-1])[::-1]
    rows = range(0, len(records), max(len(records) // 40, 1))
    one_by_one = np.array([flights.proba([records[i]])[0] for i in rows])

    assert len(records) == len(raw) > 100
    assert np.allclose(on_frame, in_batch, rtol=0, atol=1e-9)
    assert np.allclose(in_batch, reversed_batch, rtol=0, atol=1e-9)
    assert np.allclose(in_batch[list(rows)], one_by_one, rtol=0, atol=1e-9)


def test_unseen_categories_and_missing_weather_still_predict(flights):
    records = flights.holdout()[:50]
    weather = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib"]
    odd = with_values(records[:25], carrier="ZZ", dest="XYZ")  # never seen in training
    odd += with_values(records[25:], **dict.fromkeys(weather))  # every weather value missing

    proba = flights.proba(odd)

    assert np.isfinite(proba).all() and ((proba > 0) & (proba < 1)).all()


# ------------------------------------------------------------------ flights: invariance
def test_wind_gust_is_accepted_but_dropped_inside_the_model(flights):
    assert ("wind_gust", "double") in flights.fields  # part of the served record
    records = flights.holdout()[:200]
    front = flights.model[:-2]  # value cleaning + feature engineering
    assert "wind_gust" in flights.frame(records).columns
    assert "wind_gust" not in front.transform(flights.frame(records)).columns

    base = flights.proba(with_values(records, wind_gust=None))
    for gust in (0.0, 25.0, 80.0):
        assert np.array_equal(flights.proba(with_values(records, wind_gust=gust)), base)


def test_the_same_instant_in_another_utc_offset_gives_the_same_prediction(flights):
    records = flights.holdout()[:200]
    stamps = pd.to_datetime([r["time_hour"] for r in records], utc=True)
    local = [s.tz_convert(NEW_YORK).isoformat() for s in stamps]  # 2013-01-03T12:00:00-05:00
    zulu = [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in stamps]
    later = [(s + pd.Timedelta(hours=6)).isoformat() for s in stamps]

    base = flights.proba(records)

    assert local[0].endswith("-05:00") and pd.Timestamp(records[0]["time_hour"]).tzinfo is None
    for same in (local, zulu):
        shifted = [r | {"time_hour": t} for r, t in zip(records, same, strict=True)]
        assert np.allclose(flights.proba(shifted), base, rtol=0, atol=1e-12)
    # the time is not ignored: another instant (six hours later) changes predictions
    moved = [r | {"time_hour": t} for r, t in zip(records, later, strict=True)]
    assert not np.allclose(flights.proba(moved), base)


def test_field_order_and_whole_numbers_as_floats_change_nothing(flights):
    records = flights.holdout()[:200]
    reordered = [dict(reversed(list(r.items()))) for r in records]
    as_floats = [
        r | {k: float(r[k]) for k in ("distance", "sched_dep_time", "sched_arr_time")}
        for r in records
    ]

    base = flights.proba(records)
    frame = pd.DataFrame(reordered)  # columns in the reversed order of the records
    assert list(frame.columns) == flights.names[::-1]
    assert np.allclose(flights.model.predict_proba(frame)[:, 1], base, rtol=0, atol=1e-12)
    assert np.allclose(flights.proba(as_floats), base, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ flights: directional
def departing_at(records: list[dict], hhmm: int) -> list[dict]:
    """Each flight moved to depart at `hhmm` New York time on its own local day; the arrival
    moves with it (same block time) and `time_hour` is that hour as UTC ISO-8601."""
    moved = []
    for r in records:
        stamp = pd.Timestamp(r["time_hour"])
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp  # naive means UTC
        day = stamp.tz_convert(NEW_YORK).normalize()
        hour = (day + pd.Timedelta(hours=hhmm // 100)).tz_convert("UTC")
        dep, arr = r["sched_dep_time"], r["sched_arr_time"]
        block = (arr // 100 * 60 + arr % 100) - (dep // 100 * 60 + dep % 100)
        arrival = (hhmm // 100 * 60 + hhmm % 100 + block) % 1440
        moved.append(
            r
            | {
                "time_hour": hour.isoformat(),
                "sched_dep_time": hhmm,
                "sched_arr_time": arrival // 60 * 100 + arrival % 60,
            }
        )
    return moved


def test_afternoon_and_evening_departures_are_predicted_late_more_often_than_early_ones(flights):
    """Delays build up over the day: flights leaving 15:00-21:00 are late more often than
    06:00-08:00 departures (in the training days: about 35% against 21% of flights)."""
    records = flights.holdout()
    early = np.mean([flights.proba(departing_at(records, h)).mean() for h in (600, 700, 800)])
    late = np.mean([flights.proba(departing_at(records, h)).mean() for h in range(1500, 2200, 100)])

    assert late > early + 0.02, (early, late)


def test_poor_visibility_and_heavy_rain_never_lower_the_delay_probability(flights):
    """Fog (a quarter mile) with heavy rain against a clear, dry hour, flight by flight.

    The training days were dry and almost all clear (visibility 9-10 miles, a few hazy hours
    with more delays): a linear model extrapolates that to fog, trees stay flat. Neither may
    predict fewer delays in fog or rain."""
    records = flights.holdout()
    clear = flights.proba(with_values(records, visib=10.0, precip=0.0))
    foggy = flights.proba(with_values(records, visib=0.25, precip=0.5))

    assert (foggy >= clear - 1e-12).all()
    assert foggy.mean() >= clear.mean()


def test_expressjet_is_predicted_late_more_often_than_delta(flights):
    """In 2013, ExpressJet (EV) had the worst on-time record out of New York and Delta (DL)
    one of the best; the same flights flown by EV must look riskier than by DL."""
    records = flights.holdout()
    ev = flights.proba(with_values(records, carrier="EV"))
    dl = flights.proba(with_values(records, carrier="DL"))

    assert ev.mean() > dl.mean() + 0.1, (ev.mean(), dl.mean())
    assert (ev > dl).mean() >= 0.9


# ------------------------------------------------------------------ flights: served flavour
def test_the_pyfunc_flavour_predicts_the_same_on_the_records_clients_send(flights):
    """What `mlflow models serve` runs, on the same raw records (the demo's naive UTC stamps)."""
    records = flights.holdout()[:100]
    assert pd.Timestamp(records[0]["time_hour"]).tzinfo is None

    assert np.array_equal(
        np.asarray(flights.pyfunc.predict(flights.frame(records))), flights.predict(records)
    )


def test_zoned_timestamps_are_ours_only_mlflow_refuses_them(flights):
    """MLflow's `datetime` type has no zone: its schema enforcement refuses `Z` / offsets (the
    README says so). The model itself reads them as the same instants."""
    records = flights.holdout()[:10]
    stamps = pd.to_datetime([r["time_hour"] for r in records], utc=True)
    zoned = [r | {"time_hour": s.isoformat()} for r, s in zip(records, stamps, strict=True)]

    assert np.array_equal(flights.predict(zoned), flights.predict(records))
    with pytest.raises(mlflow.exceptions.MlflowException, match="time_hour|timezone"):
        flights.pyfunc.predict(flights.frame(zoned))


# ------------------------------------------------------------------ computers
def test_computers_champion_explains_price_better_than_the_mean(computers):
    split = computers.split
    metrics = compute_metrics(
        "regression", split.y_test, computers.model.predict(computers.frame(computers.holdout()))
    )
    baseline = compute_metrics(
        "regression", split.y_test, np.full(len(split.y_test), split.y_train.mean())
    )
    assert metrics["rmse"] < 0.8 * baseline["rmse"]


def test_more_ram_and_speed_raise_the_predicted_price(computers):
    records = computers.holdout()  # raw: the model computes ram x speed itself
    small = computers.predict(with_values(records, ram=4, speed=33))
    big = computers.predict(with_values(records, ram=16, speed=66))
    assert big.mean() > small.mean() + 100
