"""The Serving page says what runs the served model's estimator (`GET /model`'s backend)."""

from __future__ import annotations

from app.views.serving import backend_text


def test_compiled_trees_are_named():
    assert "compiled (lleaves" in backend_text({"backend": "lleaves", "backend_reason": None})


def test_a_fallback_names_the_backend_and_its_reason():
    text = backend_text(
        {"backend": "lightgbm", "backend_reason": "forest.so does not load: bad ELF."}
    )
    assert text == (
        "Its estimator runs on `lightgbm`. "
        "Compiled trees do not serve: forest.so does not load: bad ELF."
    )
