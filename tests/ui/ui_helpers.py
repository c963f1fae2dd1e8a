"""Helpers shared by the UI tests (imported by name: `tests/ui` is on `sys.path`)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "app" / "main.py"
PAGES = REPO / "pages"
BAD_FILE = "bad_flights.csv"
BAD_REASON = "missing_rate on 'carrier'"
FIRST_RUN_TIMEOUT = 60  # the first script run of a session imports pandas, sklearn, plotly


def page(name: str) -> AppTest:
    """An AppTest of one page file, run once (generous timeout for the first, cold run)."""
    at = AppTest.from_file(str(PAGES / f"{name}.py"))
    at.run(timeout=FIRST_RUN_TIMEOUT)
    return at


def texts(elements) -> list[str]:
    """The `.value` of every element in an AppTest element list."""
    return [str(e.value) for e in elements]
