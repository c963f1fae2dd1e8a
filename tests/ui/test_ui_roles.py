"""Roles on every page: each mutating control is enabled or disabled (with the reason) per role.

Signed in with `[workbench_users]` secrets as a viewer, an operator, an approver and an admin;
the expected state of each control comes from `core.access.ACTIONS` (whose matrix
`tests/unit/test_access.py` spells out). One AppTest run per page and role.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import free_port
from ui_helpers import FIRST_RUN_TIMEOUT, PAGES, app, page, texts
from workspaces import copy_workspace

from app.auth import SESSION_KEY, hash_password
from core import access

pytestmark = pytest.mark.slow

ROLES = ("viewer", "operator", "approver", "admin")
USERS = {f"{r}-user": {"password_hash": hash_password(r), "roles": [r]} for r in ROLES}
CONTROLS = {  # page -> widget key -> the action the control does
    "data": {"data_run_pipeline": access.RUN_PIPELINE},
    "jobs": {
        "jobs_run": access.RUN_JOB,
        "jobs_pause": access.PAUSE_JOB,
        "jobs_resume": access.RESUME_JOB,
    },
    "drift": {
        "drift_run": access.RUN_DRIFT_CHECK,
        "drift_retrain": access.RETRAIN,
        "drift_labels_import": access.IMPORT_LABELS,
        "drift_report_write": access.WRITE_REPORTS,
    },
    "serving": {
        "serving_predict": access.TRY_PREDICTION,
        "serving_save": access.SERVING_SETTINGS,
        "serving_reload": access.RELOAD_MODEL,
        "deploy_go": access.DEPLOY_ROLLOUT,
        "deploy_rollback": access.DEPLOY_ROLLBACK,
        "deploy_build": access.DEPLOY_BUILD,
    },
    "models": {
        "evaluate_gates": access.EVALUATE_GATES,
        "promote": access.PROMOTE,
        "rollback": access.ROLLBACK,
    },
}
ALWAYS_SHOWN = {  # the controls each page's workspace must show (others depend on state)
    "data": {"data_run_pipeline"},
    "jobs": {"jobs_run", "jobs_pause", "jobs_resume"},
    "drift": {"drift_run", "drift_retrain"},
    "serving": {"serving_save"},  # reload needs the API up, deploy needs Docker
    "models": {"evaluate_gates", "promote", "rollback"},
}
DISABLED_FOR_OTHER_REASONS = {  # with every role: no admin key, no earlier champion
    "serving_reload",
    "deploy_rollback",
    "rollback",
}


@pytest.fixture
def page_ws(request, ui_ws_copy, tmp_path, monkeypatch) -> Path:
    """The page's workspace: the demo with data, or (Models) champion v1 + challenger v2."""
    monkeypatch.setenv("WORKBENCH_API_URL", f"http://127.0.0.1:{free_port()}")  # API down
    monkeypatch.delenv("WORKBENCH_ADMIN_KEY", raising=False)
    if request.param != "models":
        return ui_ws_copy
    template = request.getfixturevalue("two_versions_template")  # trains: only for Models
    root = copy_workspace(template, tmp_path / "models-ws")
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    return root


def signed_in(name: str, role: str):
    """The page run once with `[workbench_users]` secrets and `role`'s user signed in."""
    at = app(PAGES / f"{name}.py")
    at.secrets["workbench_users"] = USERS
    at.session_state[SESSION_KEY] = f"{role}-user"
    return at.run(timeout=FIRST_RUN_TIMEOUT)


def controls(at, name: str) -> dict:
    """The page's mutating buttons that are on screen, by key."""
    return {b.key: b for b in at.button if b.key in CONTROLS[name]}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page_ws", list(CONTROLS), indirect=True)
def test_each_mutating_control_is_enabled_only_for_the_roles_allowed_to_use_it(
    page_ws, request, role
):
    name = request.node.callspec.params["page_ws"]
    at = signed_in(name, role)

    assert not at.exception
    assert any(f"Signed in as **{role}-user** ({role})" in t for t in texts(at.sidebar.caption))
    shown = controls(at, name)
    assert ALWAYS_SHOWN[name] <= shown.keys()
    for key, button in shown.items():
        action = CONTROLS[name][key]
        if access.allowed([role], action):
            assert "role" not in (button.help or ""), key
            assert button.disabled is (key in DISABLED_FOR_OTHER_REASONS), key
        else:
            needed = access.ACTIONS[action]
            assert button.disabled, key
            assert button.help == f"Needs the {needed} role ({role}-user holds: {role}).", key


@pytest.mark.parametrize("page_ws", ["data", "jobs"], indirect=True)
def test_signed_out_the_sidebar_offers_the_sign_in_and_controls_say_to_sign_in(page_ws, request):
    name = request.node.callspec.params["page_ws"]
    at = app(PAGES / f"{name}.py")
    at.secrets["workbench_users"] = USERS
    at.run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert at.sidebar.text_input(key="login_username")
    for key, button in controls(at, name).items():
        assert button.disabled, key
        assert button.help.startswith("Sign in (sidebar) as a user with the operator role"), key


@pytest.mark.parametrize("page_ws", ["data", "jobs", "drift"], indirect=True)
def test_without_authentication_every_control_is_enabled_and_the_os_user_is_named(page_ws, request):
    name = request.node.callspec.params["page_ws"]
    at = page(name)

    assert not at.exception
    assert any("no authentication configured" in t for t in texts(at.sidebar.caption))
    shown = controls(at, name)
    assert ALWAYS_SHOWN[name] <= shown.keys()
    for key, button in shown.items():
        assert not button.disabled, key
        assert "role" not in (button.help or ""), key
