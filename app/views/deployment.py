"""The Serving page's Deployment section: Docker images, blue/green rollout, rollback, logs.

Everything goes through `core.deploy`; with no engine reachable the section says so in one
line and the rest of the page (the in-process API and its hot swap) is unaffected.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from app import ui
from core import access
from core.deploy.engine import EngineUnavailable
from core.workspace import Workspace

DEFAULT_NAME = "workbench"
LOG_LINES = 100


def _name() -> str:
    return os.environ.get("WORKBENCH_DEPLOYMENT") or DEFAULT_NAME


def deployment_section(ws: Workspace) -> None:
    """Containers with status, build / roll out / roll back, recent logs."""
    from core.deploy.rollout import Deployment

    st.subheader("Deployment (Docker)")
    try:
        deployment = Deployment(_name())
    except EngineUnavailable as exc:
        st.info(
            f"No Docker deployment: {exc}.\n\nThe API started with `workbench serve` is not "
            "affected: it keeps swapping in each promoted champion by itself."
        )
        return
    state = deployment.status()
    containers_table(state)
    left, right = st.columns(2)
    with left:
        rollout_form(ws, deployment, state)
    with right:
        rollback_button(deployment, state)
        build_expander()
    logs_view(deployment, state)


def container_rows(state: dict) -> pd.DataFrame:
    """One row per container: role, status, health, its HAProxy server's status, image, since."""
    rows = ([state["entry"]] if state["entry"] else []) + state["containers"]
    servers = ((state["entry"] or {}).get("state") or {}).get("servers", {})
    return pd.DataFrame(
        [
            {
                "container": r["name"],
                "role": "entry" if r["kind"] == "entry" else ("live" if r["live"] else "previous"),
                "status": r["status"],
                "health": r["health"],
                "in HAProxy": servers.get(r["color"], {}).get("status", ""),
                "image": r["image"],
                "since": r["started"] if r["status"] == "running" else r["finished"],
            }
            for r in rows
        ],
        columns=["container", "role", "status", "health", "in HAProxy", "image", "since"],
    )


def containers_table(state: dict) -> None:
    """The entry and API containers with role, status, health, image, since."""
    table = container_rows(state)
    if table.empty:
        st.caption(
            f"Nothing deployed as `{state['name']}` yet: build an API image, then roll it out. "
            f"Clients will reach it at {state['url']}."
        )
        return
    st.caption(f"Deployment `{state['name']}`: clients reach the API at {state['url']}.")
    st.dataframe(table, hide_index=True, width="stretch")


def rollout_form(ws: Workspace, deployment, state: dict) -> None:
    """Pick an API image and roll it out blue/green, with each step shown."""
    from core.deploy.images import list_images
    from core.deploy.rollout import ApiSpec
    from core.deploy.smoke import SmokeTest

    tags = [t for image in list_images("api", deployment.client) for t in image["tags"]]
    with st.form("deploy_rollout_form"):
        image = st.selectbox("API image", tags, key="deploy_image", placeholder="build one first")
        mount = st.checkbox(
            "Mount this workspace (embedded MLflow store)",
            value=True,
            key="deploy_mount",
            help="Off when the API reaches MLflow and the prediction log by URL "
            "(WORKBENCH_TRACKING_URI, WORKBENCH_PREDICTION_LOG_URL are passed on).",
        )
        go = st.form_submit_button(
            "Roll out (blue/green)",
            type="primary",
            key="deploy_go",
            **ui.guard(access.DEPLOY_ROLLOUT),
        )
    if not go or not image:
        return
    spec = ApiSpec.for_workspace(image, ws.root if mount else None)
    with st.status(f"Rolling out {image} ...", expanded=True) as box:
        done = deployment.rollout(spec, st.write, smoke=SmokeTest(ws))
        box.update(label=f"{done.live} is live ({done.seconds:.0f} s)", state="complete")
    st.success(
        f"{done.live} serves {done.url}" + (f"; {done.previous} kept" if done.previous else "")
    )


def rollback_button(deployment, state: dict) -> None:
    """Switch back to the previous container (disabled when there is none)."""
    previous = [r["name"] for r in state["containers"] if not r["live"]]
    clicked = st.button(
        f"Roll back to {previous[0]}" if previous else "Roll back",
        key="deploy_rollback",
        **ui.guard(
            access.DEPLOY_ROLLBACK,
            disabled=not previous,
            help="Start the previous container again, switch traffic to it, stop the live one."
            if previous
            else "No previous container to return to.",
        ),
    )
    if clicked:
        with st.status("Rolling back ...", expanded=True) as box:
            done = deployment.rollback(st.write)
            box.update(label=f"{done.live} is live again", state="complete")


def build_expander() -> None:
    """Build an API image here, with the build output streamed."""
    from core.deploy.images import build_image

    with st.expander("Build an API image"):
        base = st.text_input(
            "Base image (empty: the Dockerfile's default)", key="deploy_base", value=""
        )
        if st.button("Build", key="deploy_build", **ui.guard(access.DEPLOY_BUILD)):
            lines = st.empty()
            seen: list[str] = []

            def show(line: str) -> None:
                seen.append(line)
                lines.code("\n".join(seen[-15:]))

            with st.spinner("Building (the first build installs the dependencies) ..."):
                built = build_image("api", base_image=base or None, on_line=show)
            st.success(f"Built {built.tag} in {built.seconds:.0f} s")


def logs_view(deployment, state: dict) -> None:
    """The last lines of a chosen container's log."""
    names = ([state["entry"]["name"]] if state["entry"] else []) + [
        r["name"] for r in state["containers"]
    ]
    if not names:
        return
    chosen = st.selectbox("Recent logs of", names, key="deploy_logs_of")
    st.code(deployment.logs(chosen, LOG_LINES) or "(no output yet)", language="log")
