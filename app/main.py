"""Streamlit entry point: page config, the sidebar, and the page navigation.

Run with `workbench ui --workspace DIR` (or `streamlit run app/main.py` with `WORKBENCH_HOME`).
The pages are the `pages` package installed beside `app` (a source checkout has the same
layout), so they are found by absolute path from this file, wherever the package is installed.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import ui
from core.errors import WorkbenchError
from core.workspace import resolve_workspace

# The page scripts: `pages/` next to the `app` package (a comment, not a string: Streamlit's
# magic would render a bare string of this script on every page).
PAGES = Path(__file__).resolve().parent.parent / "pages"


def sidebar() -> None:
    """Show the workspace, the MLflow tracking URI and the current champion."""
    with st.sidebar:
        st.caption("Workspace")
        st.code(str(resolve_workspace()), language=None)
        try:
            ws = ui.open_workspace()
        except WorkbenchError:  # the page itself shows the error and how to fix it
            st.caption(":red[not a workspace: see the page for how to create one]")
            return
        st.caption("MLflow tracking URI")
        st.code(ws.tracking_uri, language=None)
        st.caption("Champion")
        st.markdown(f"**{ui.champion_text(ui.current_champion(ws))}**")


st.set_page_config(page_title="MLOps Workbench", layout="wide")
sidebar()
navigation = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", url_path="overview", default=True),
        st.Page(PAGES / "data.py", title="Data", url_path="data"),
        st.Page(PAGES / "experiments.py", title="Experiments", url_path="experiments"),
        st.Page(PAGES / "models.py", title="Models", url_path="models"),
        st.Page(PAGES / "lineage.py", title="Lineage", url_path="lineage"),
        st.Page(PAGES / "serving.py", title="Serving", url_path="serving"),
        st.Page(PAGES / "drift.py", title="Drift", url_path="drift"),
        st.Page(PAGES / "jobs.py", title="Jobs", url_path="jobs"),
    ]
)
navigation.run()
