"""`core.serving.explain`: exact, additive explanations in raw input fields, on small workbench
pipelines (the real front steps, transformer and estimators) fitted in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from scipy.special import expit
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB

from core.config import parse_config
from core.serving.explain import (
    Explainer,
    ExplainUnsupported,
    explainer,
    feature_sources,
    global_importance,
)
from core.training.candidates import Candidate, build_pipeline

FIELDS = ["ts", "temp", "dewp", "distance", "carrier", "junk"]


def _config(task: str):
    return parse_config(
        {
            "task": task,
            "target": "y",
            "time_column": "ts",
            "preprocessing": {"drop_columns": ["junk"], "max_categories": 4},
            "features": {
                "date_parts": [{"column": "ts", "parts": ["month", "hour", "is_weekend"]}],
                "interactions": [{"columns": ["temp", "dewp"], "op": "subtract", "name": "spread"}],
                "bins": [{"column": "distance", "edges": [500, 1000], "name": "distance_bin"}],
            },
        }
    )


def _data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(  # noqa: N806 - sklearn naming
        {
            "ts": pd.date_range("2013-01-01", periods=n, freq="7h", tz="UTC"),
            "temp": rng.normal(50, 15, n),
            "dewp": rng.normal(40, 10, n),
            "distance": rng.uniform(100, 2500, n),
            "carrier": rng.choice(["AA", "B6", "DL", "UA", "WN", "EV", "9E"], n),
            "junk": rng.normal(size=n),
        }
    )
    X.loc[::17, "temp"] = np.nan
    X.loc[::23, "carrier"] = None
    score = (X["temp"].fillna(50) - X["dewp"]) / 10 + (X["carrier"] == "EV") - X["distance"] / 2e3
    return X, score.to_numpy()


def _fit(task: str, make) -> tuple:
    X, score = _data()  # noqa: N806 - sklearn naming
    y = (score > np.median(score)).astype(int) if task == "classification" else score
    pipe = build_pipeline(Candidate("m", lambda s: make()), X, _config(task), seed=0)
    return pipe.fit(X, y), _data(30, seed=1)[0]


def _records(frame: pd.DataFrame) -> list[dict]:
    """Raw records as a client sends them: ISO timestamps, None for gaps."""
    out = frame.astype(object).where(frame.notna(), None)
    out["ts"] = [t.isoformat() for t in frame["ts"]]
    return out.to_dict(orient="records")


def test_every_transformed_column_traces_back_to_the_raw_fields_it_is_computed_from():
    pipe, _ = _fit("classification", lambda: LogisticRegression(max_iter=500))
    sources = feature_sources(pipe, FIELDS)
    names = pipe[:-1].get_feature_names_out()
    by_name = dict(zip(names, sources, strict=True))
    assert by_name["temp"] == {"temp"}
    assert by_name["spread"] == {"temp", "dewp"}  # an interaction: both of its fields
    assert by_name["ts_month"] == by_name["ts_hour"] == by_name["ts_is_weekend"] == {"ts"}
    assert by_name["distance_bin"] == {"distance"}
    onehot = [n for n in names if n.startswith("carrier_")]
    assert len(onehot) == 4 and all(by_name[n] == {"carrier"} for n in onehot)  # incl. infrequent
    assert not any("junk" in s for s in sources)  # dropped by the cleaner


@pytest.mark.parametrize(
    "make",
    [lambda: LGBMClassifier(n_estimators=30, verbose=-1), lambda: LogisticRegression(max_iter=500)],
    ids=["lightgbm", "logistic_regression"],
)
def test_binary_classifier_log_odds_add_up_to_the_probability(make):
    pipe, new = _fit("classification", make)
    explanations = Explainer(pipe, FIELDS).explain_records(_records(new))
    proba = pipe.predict_proba(new)[:, 1]
    for exp, p in zip(explanations, proba, strict=True):
        assert exp.space == "log_odds"
        assert list(exp.contributions) == FIELDS  # every raw field, in signature order
        assert exp.contributions["junk"] == 0.0  # the model drops it
        assert abs(expit(exp.output()) - p) < 1e-9
    assert any(abs(e.contributions["carrier"]) > 0 for e in explanations)


@pytest.mark.parametrize(
    "make",
    [lambda: LGBMRegressor(n_estimators=30, verbose=-1), lambda: Ridge(alpha=1.0)],
    ids=["lightgbm", "ridge"],
)
def test_regressor_values_add_up_to_the_prediction(make):
    pipe, new = _fit("regression", make)
    explanations = Explainer(pipe, FIELDS).explain_frame(new)
    for exp, value in zip(explanations, pipe.predict(new), strict=True):
        assert exp.space == "value"
        assert abs(exp.output() - value) < 1e-9


def test_linear_base_is_the_mean_prediction_of_the_background_rows():
    pipe, new = _fit("classification", lambda: LogisticRegression(max_iter=500))
    background = _data(200, seed=2)[0]
    exp = Explainer(pipe, FIELDS, background=background).explain_frame(new)
    logits = pipe.decision_function(background)
    assert abs(exp[0].base_value - logits.mean()) < 1e-9  # linear: mean logit = logit at mean
    proba = pipe.predict_proba(new)[:, 1]
    assert all(abs(expit(e.output()) - p) < 1e-9 for e, p in zip(exp, proba, strict=True))


@pytest.mark.parametrize(
    ("make", "family"),
    [
        (lambda: RandomForestClassifier(n_estimators=5), "RandomForestClassifier"),
        (lambda: GaussianNB(), "GaussianNB"),
    ],
)
def test_a_family_without_an_exact_method_is_refused_by_name(make, family):
    pipe, _ = _fit("classification", make)
    with pytest.raises(ExplainUnsupported, match=family):
        explainer(pipe, FIELDS)


def test_the_explainer_of_a_pipeline_is_built_once():
    pipe, _ = _fit("classification", lambda: LogisticRegression(max_iter=500))
    assert explainer(pipe, FIELDS) is explainer(pipe, FIELDS)


def test_global_importance_is_the_mean_absolute_contribution_of_each_raw_field():
    pipe, new = _fit("classification", lambda: LGBMClassifier(n_estimators=30, verbose=-1))
    frame = _data(300, seed=3)[0]
    means, space = global_importance(pipe, frame, rows=50)
    assert space == "log_odds" and list(means) == FIELDS
    assert means["junk"] == 0.0 and means["temp"] > 0 and means["carrier"] > 0
    sample = frame.sample(n=50, random_state=0)
    parts = Explainer(pipe, FIELDS).explain_frame(sample)
    assert means["dewp"] == pytest.approx(np.mean([abs(p.contributions["dewp"]) for p in parts]))
