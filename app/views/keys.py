"""The Serving page's API keys: the named keys of `core.serving.keys`, managed by admins.

The table never holds a key or its hash. A new key is shown once, right after it is created
(it is kept in the session only until that run shows it); every create and revoke goes through
`ui.audited` (target: the key's name) and every control through `ui.guard`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import ui
from core import access
from core.serving import keys as key_store
from core.workspace import Workspace

COLUMNS = ["name", "role", "status", "created", "last_used", "expires", "revoked"]
"""The table's columns, as `workbench keys list --json` names them (never the hash)."""
SHOWN = "keys_shown"
"""Session key of what the next run shows once: (level, message, new key or None)."""
PENDING = "keys_revoke_pending"
"""Session key of the key name waiting for the revoke confirmation."""


def key_rows(keys: list[key_store.ApiKey]) -> pd.DataFrame:
    """One row per key: name, role, status, created, last used, expires, revoked (no hash)."""
    rows = [
        {
            "name": k.name,
            "role": k.role,
            "status": k.status(),
            "created": k.created,
            "last_used": k.last_used,
            "expires": k.expires,
            "revoked": k.revoked,
        }
        for k in keys
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _show_once() -> None:
    """Show the message (and the new key) the previous run kept, then forget them."""
    kept = st.session_state.pop(SHOWN, None)
    if not kept:
        return
    level, text, new_key = kept
    getattr(st, level)(text)
    if new_key:
        st.code(new_key, language=None)
        st.warning(
            "Copy this key now: it will not be shown again (only its SHA-256 is stored). "
            "Clients send it in the `X-API-Key` header."
        )


def _keep(text: str, new_key: str | None = None) -> None:
    st.session_state[SHOWN] = ("success", text, new_key)
    st.rerun()


def create_form(ws: Workspace) -> None:
    """Name, role and optional expiry; the key is created, audited and shown once."""
    with st.form("keys_create_form"):
        cols = st.columns(3)
        name = cols[0].text_input("Name", key="keys_name", help="Who uses it, e.g. mobile-app.")
        role = cols[1].selectbox(
            "Role",
            key_store.ROLES,
            key="keys_role",
            help="predict: /predict and /feedback; admin: also /admin/reload.",
        )
        expires = cols[2].text_input(
            "Expires after (optional)",
            key="keys_expires",
            placeholder="never",
            help="A duration such as 30d, 12h or 2w; empty: the key does not expire.",
        )
        submitted = st.form_submit_button(
            "Create key", key="keys_create", **ui.guard(access.MANAGE_API_KEYS)
        )
    if not submitted:
        return
    name, expires = name.strip(), expires.strip()
    with ui.shown_errors("create an API key"):
        with ui.audited(ws, access.MANAGE_API_KEYS, target=name, reason="create") as details:
            lifetime = key_store.parse_duration(expires) if expires else None
            details.update(role=role, expires=expires or None)
            new_key = key_store.create(ws.root, name, role, lifetime)
        _keep(f"Key **{name}** ({role}) created.", new_key)


def revoke_control(ws: Workspace, keys: list[key_store.ApiKey]) -> None:
    """Pick an active key, press Revoke, then confirm; the revoke is audited."""
    active = [k.name for k in keys if k.status() == "active"]
    cols = st.columns([3, 1])
    name = cols[0].selectbox(
        "Revoke a key",
        active,
        index=None,
        key="keys_revoke_name",
        placeholder="an active key" if active else "no active key",
        **ui.guard(access.MANAGE_API_KEYS, disabled=not active),
    )
    if cols[1].button(
        "Revoke",
        key="keys_revoke",
        **ui.guard(
            access.MANAGE_API_KEYS,
            disabled=name is None,
            help="The API refuses the key within serving.poll_seconds.",
        ),
    ):
        st.session_state[PENDING] = name
    pending = st.session_state.get(PENDING)
    if pending is None or pending not in active:
        return
    st.warning(f"Revoke **{pending}**? Clients using it are refused from the API's next poll.")
    left, right = st.columns(2)
    if right.button("Cancel", key="keys_revoke_cancel"):
        st.session_state.pop(PENDING, None)
        st.rerun()
    if left.button(
        f"Confirm: revoke {pending}",
        type="primary",
        key="keys_revoke_confirm",
        **ui.guard(access.MANAGE_API_KEYS),
    ):
        st.session_state.pop(PENDING, None)
        with ui.shown_errors("revoke an API key"):
            with ui.audited(ws, access.MANAGE_API_KEYS, target=pending, reason="revoke"):
                key_store.revoke(ws.root, pending)
            _keep(f"Key **{pending}** revoked.")


def keys_section(ws: Workspace) -> None:
    """The Serving page's "API keys" section: table, create form, revoke control."""
    st.subheader("API keys")
    _show_once()
    keys = key_store.load(key_store.store_path(ws.root))  # a broken store: one line (the page)
    if keys:
        st.dataframe(key_rows(keys), hide_index=True, width="stretch")
    else:
        st.caption("No named keys yet: the API accepts the environment's keys, if any.")
    create_form(ws)
    revoke_control(ws, keys)
    st.caption(
        f"Stored as SHA-256 hashes in `{key_store.store_path(ws.root)}` (the CLI: "
        "`workbench keys`). The running API picks up changes within `serving.poll_seconds`."
    )
