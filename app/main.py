"""Streamlit entry point: page config, the sidebar, and the page navigation.

Run with `workbench ui --workspace DIR` (or `streamlit run app/main.py` with `WORKBENCH_HOME`).
Page paths are relative to this file's directory, which is how `st.Page` resolves them.
"""

from __future__ import annotations

import streamlit as st

from app import ui
from core.errors import WorkbenchError
from core.workspace import resolve_workspace


def sidebar() -> None:
    """Show the workspace, the MLflow tracking URI and the current champion."""
    with st.sidebar:
        st.caption("Workspace")
        st.code(str(resolve_workspace()), language=None)
        try:
            ws = ui.open_workspace()
        except WorkbenchError:
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
        st.Page("../pages/overview.py", title="Overview", url_path="overview", default=True),
        st.Page("../pages/data.py", title="Data", url_path="data"),
        st.Page("../pages/experiments.py", title="Experiments", url_path="experiments"),
        st.Page("../pages/models.py", title="Models", url_path="models"),
        st.Page("../pages/serving.py", title="Serving", url_path="serving"),
        st.Page("../pages/drift.py", title="Drift", url_path="drift"),
        st.Page("../pages/jobs.py", title="Jobs", url_path="jobs"),
    ]
)
navigation.run()
