"""The Serving page's explanation waterfall (`app.views.serving_form`), on small inputs."""

from __future__ import annotations

import math

import pytest

from app.views.serving_form import explanation_figure, explanation_steps

EXPLANATION = {
    "base_value": -1.5,
    "contributions": {"a": 0.2, "b": -0.9, "c": 0.0, "d": 0.4},
    "space": "log_odds",
}


def test_steps_are_the_nonzero_fields_by_magnitude():
    assert explanation_steps(EXPLANATION) == [("b", -0.9), ("d", 0.4), ("a", 0.2)]


def test_past_the_top_fields_the_rest_are_one_step_that_keeps_the_sum():
    many = {"contributions": {f"f{i}": float(i + 1) for i in range(20)}}
    steps = explanation_steps(many, top=5)
    assert [n for n, _ in steps][:4] == ["f19", "f18", "f17", "f16"]
    assert steps[-1][0] == "16 other fields"
    assert sum(v for _, v in steps) == pytest.approx(sum(many["contributions"].values()))


def test_the_waterfall_goes_from_the_base_to_the_output_labelled_with_its_probability():
    (trace,) = explanation_figure(EXPLANATION).data
    assert list(trace.y) == ["base value", "b", "d", "a", "output"]
    assert list(trace.measure) == ["absolute", "relative", "relative", "relative", "total"]
    output = -1.5 - 0.9 + 0.4 + 0.2
    assert trace.x[-1] == pytest.approx(output)
    assert f"probability {1 / (1 + math.exp(-output)):.3f}" in trace.text[-1]
    regression = explanation_figure(EXPLANATION | {"space": "value"})
    assert "probability" not in regression.data[0].text[-1]
    assert regression.layout.xaxis.title.text == "predicted value"
