"""API keys on the Serving page: admins create (the key shown once) and revoke; others may not.

The section runs in a small script over a blank workspace (fast); one slow test checks the
section on the real Serving page. Keys are checked with `core.serving.keys.verify` and the
audit log with `core.audit.read_events`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import free_port
from streamlit.testing.v1 import AppTest
from test_ui_roles import USERS
from ui_helpers import FIRST_RUN_TIMEOUT, PAGES, RUN_TIMEOUT, app, texts

from app.auth import SESSION_KEY
from core import access
from core.audit import audit_log_path, read_events
from core.serving import keys
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

CONTROLS = ("keys_create", "keys_revoke")


def _keys_script() -> None:  # run by AppTest as a script: imports inside
    from app import ui
    from app.views.keys import keys_section

    ws, _ = ui.start_page()
    with ui.shown_errors():
        keys_section(ws)


@pytest.fixture
def blank_ws(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "ws"
    init_workspace(root)
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    return root


def signed_in(role: str) -> AppTest:
    at = AppTest.from_function(_keys_script, default_timeout=RUN_TIMEOUT)
    at.secrets["workbench_users"] = USERS
    at.session_state[SESSION_KEY] = f"{role}-user"
    return at.run(timeout=FIRST_RUN_TIMEOUT)


def create(at: AppTest, name: str, role: str = "predict", expires: str = "") -> AppTest:
    at.text_input(key="keys_name").input(name)
    at.selectbox(key="keys_role").select(role)
    at.text_input(key="keys_expires").input(expires)
    return at.button(key="keys_create").click().run()


def table(at: AppTest):
    return at.dataframe[0].value.set_index("name")


def test_an_admin_creates_a_key_shown_once_that_verifies_and_is_audited(blank_ws):
    at = create(signed_in("admin"), "mobile-app", "admin", "30d")

    assert not at.exception
    assert not at.error
    [shown] = at.code
    entry = keys.verify(blank_ws, shown.value)
    assert (entry.name, entry.role) == ("mobile-app", "admin")
    assert entry.expires is not None
    assert any("will not be shown again" in t for t in texts(at.warning))
    row = table(at).loc["mobile-app"]
    assert (row["role"], row["status"]) == ("admin", "active")
    assert "hash" not in table(at).columns
    [event] = read_events(Workspace(blank_ws))
    assert (event["actor"], event["action"], event["target"], event["outcome"]) == (
        "admin-user",
        access.MANAGE_API_KEYS,
        "mobile-app",
        "ok",
    )
    assert shown.value not in audit_log_path(Workspace(blank_ws)).read_text()

    at.run()  # any later run: the key is gone for good

    assert not at.code
    assert table(at).loc["mobile-app", "status"] == "active"


def test_an_admin_revokes_a_key_after_confirming_and_the_key_stops_verifying(blank_ws):
    key = keys.create(blank_ws, "old-client")
    at = signed_in("admin")
    at.selectbox(key="keys_revoke_name").select("old-client").run()
    at.button(key="keys_revoke").click().run()

    assert keys.verify(blank_ws, key) is not None  # not before the confirmation
    at.button(key="keys_revoke_confirm").click().run()

    assert not at.exception
    assert not at.error
    assert table(at).loc["old-client", "status"] == "revoked"
    assert keys.verify(blank_ws, key) is None
    [event] = read_events(Workspace(blank_ws))
    assert (event["target"], event["reason"], event["outcome"]) == ("old-client", "revoke", "ok")
    assert at.selectbox(key="keys_revoke_name").options == []


@pytest.mark.parametrize("role", ["viewer", "operator", "approver"])
def test_users_below_admin_see_the_key_controls_disabled_with_the_reason(blank_ws, role):
    keys.create(blank_ws, "some-client")
    at = signed_in(role)

    assert not at.exception
    assert table(at).loc["some-client", "status"] == "active"  # everyone may read the list
    for key in (*CONTROLS, "keys_revoke_name"):
        widget = at.button(key=key) if key in CONTROLS else at.selectbox(key=key)
        assert widget.disabled, key
        assert widget.help == f"Needs the admin role ({role}-user holds: {role}).", key


def test_a_duplicate_name_and_a_bad_duration_each_show_one_error_line(blank_ws):
    keys.create(blank_ws, "taken")
    at = create(signed_in("admin"), "taken")

    assert not at.exception
    assert texts(at.error) == ["an active key is already named 'taken': revoke it first"]
    assert not at.code
    at = create(at, "fresh", expires="soon")

    assert not at.exception
    assert texts(at.error) == [
        "not a duration: 'soon' (a positive number and one of s, m, h, d, w, e.g. 30d)"
    ]
    assert not at.code
    assert [k.name for k in keys.load(keys.store_path(blank_ws))] == ["taken"]
    outcomes = [(e["target"], e["outcome"]) for e in read_events(Workspace(blank_ws))]
    assert outcomes == [("fresh", "failed"), ("taken", "failed")]


@pytest.mark.slow
def test_the_serving_page_has_the_api_keys_section(ui_ws_copy, monkeypatch):
    monkeypatch.setenv("WORKBENCH_API_URL", f"http://127.0.0.1:{free_port()}")  # API down
    monkeypatch.delenv("WORKBENCH_ADMIN_KEY", raising=False)
    at = app(PAGES / "serving.py")
    at.secrets["workbench_users"] = USERS
    at.session_state[SESSION_KEY] = "admin-user"
    at.run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert "API keys" in texts(at.subheader)
    assert not at.button(key="keys_create").disabled
