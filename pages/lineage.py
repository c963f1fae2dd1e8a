"""Lineage: a model version back to its run, data and batches, forward to what it served."""

from __future__ import annotations

import streamlit as st

from app import ui
from app.views import lineage as view
from core.lineage import MLFLOW_UI_ENV, build_lineage, mlflow_ui_url, version_choices
from core.predictions.readers import log_signature, prediction_log_source
from core.workspace import Workspace


@st.cache_data(ttl=30, show_spinner="Following the lineage", max_entries=16)
def lineage_of(root: str, name: str, version: str, sig: tuple):
    return build_lineage(Workspace.open(root), name, version)


def signature(ws: Workspace) -> tuple:
    """Changes when a promotion, alert, ingestion or logged prediction lands."""
    files = (ws.state / "audit.jsonl", ws.alerts_path, ws.state / "incidents.json")
    return (
        *(ui.mtime(f) for f in (*files, ws.manifest_path, ws.mlflow_db)),
        log_signature(prediction_log_source(ws)),
    )


def hop(node) -> None:
    left, right = st.columns([6, 1], vertical_alignment="center")
    left.markdown(f"`{node.label}`")
    kind, target, query = view.link_of(node)
    with right:
        if kind == "url":
            st.page_link(target, label=view.link_label(node), icon=":material/open_in_new:")
        else:
            st.page_link(
                target,
                label=view.link_label(node),
                query_params=query or None,
                icon=":material/arrow_forward:",
            )


st.title("Lineage")
ws, user = ui.start_page()
with ui.shown_errors(f"Reading the model registry at {ws.tracking_uri}", stop=True):
    versions, champion = version_choices(ws)
if not versions:
    st.info(
        f"No registered versions of **{ws.config.model_name}** yet: train one with "
        "`workbench train`; its lineage then starts at its run."
    )
    st.stop()
version = st.selectbox(
    "Model version (number)",
    versions,
    index=versions.index(champion) if champion in versions else 0,
    key="version",  # plain numbers: `?version=N` opens that version (the URL holds the label)
    bind="query-params",
)
with ui.shown_errors("Following the lineage", stop=True):
    lineage = lineage_of(str(ws.root), ws.config.model_name, version, signature(ws))
st.caption(
    f"Back to the run and data that made **{ws.config.model_name} v{version}**"
    + (" (the champion)" if version == champion else f" (champion: v{champion or '-'})")
    + ", forward to what it served. "
    f"MLflow links open {mlflow_ui_url(ws)} (`{MLFLOW_UI_ENV}` changes it; "
    f"`mlflow ui --backend-store-uri {ws.tracking_uri}` serves the workspace's store). "
    "`workbench lineage` prints the same hops."
)
for note in lineage.notes:
    st.warning(note)
st.graphviz_chart(view.dot(lineage))
for (title, source, nodes), (kind, _, _) in zip(view.sections(lineage), view.SECTIONS, strict=True):
    st.subheader(title)
    st.caption(f"{len(nodes)} · from {source}")
    if kind == "predictions" and nodes:
        st.bar_chart(view.predictions_frame(lineage), stack=True)
    for node in nodes:
        hop(node)
