"""core.access: the role every action needs, and which roles hold it."""

from __future__ import annotations

import pytest

from core import access
from core.errors import NotAnApprover, WorkbenchError
from core.registry.promotion import APPROVER_ROLE, require_approver

OPERATOR_ACTIONS = {
    access.RUN_PIPELINE,
    access.VALIDATE_FILE,
    access.TRAIN,
    access.RETRAIN,
    access.EVALUATE_GATES,
    access.RUN_JOB,
    access.PAUSE_JOB,
    access.RESUME_JOB,
    access.RUN_DRIFT_CHECK,
    access.IMPORT_LABELS,
    access.WRITE_REPORTS,
    access.TRY_PREDICTION,
    access.LAND_DEMO_DATA,
    access.START_SERVICES,
    access.STOP_SERVICES,
}
APPROVER_ACTIONS = {access.PROMOTE, access.ROLLBACK}
ADMIN_ACTIONS = {
    access.MANAGE_API_KEYS,
    access.SERVING_SETTINGS,
    access.RELOAD_MODEL,
    access.DEPLOY_BUILD,
    access.DEPLOY_ROLLOUT,
    access.DEPLOY_ROLLBACK,
    access.INIT_WORKSPACE,
}
EXPECTED = {  # role -> every action it may do (written out, not derived from the module)
    "viewer": set(),
    "operator": OPERATOR_ACTIONS,
    "approver": OPERATOR_ACTIONS | APPROVER_ACTIONS,
    "admin": OPERATOR_ACTIONS | APPROVER_ACTIONS | ADMIN_ACTIONS,
}


def test_the_actions_table_covers_exactly_the_expected_actions():
    assert set(access.ACTIONS) == OPERATOR_ACTIONS | APPROVER_ACTIONS | ADMIN_ACTIONS
    assert set(access.ACTIONS.values()) == {"operator", "approver", "admin"}


@pytest.mark.parametrize("role", access.ROLES)
@pytest.mark.parametrize("action", sorted(access.ACTIONS))
def test_each_role_may_do_exactly_its_actions(role, action):
    assert access.allowed([role], action) is (action in EXPECTED[role])
    assert access.allowed(role, action) is (action in EXPECTED[role])  # a single name


@pytest.mark.parametrize("action", sorted(access.ACTIONS))
def test_no_roles_or_unknown_roles_allow_nothing_and_every_role_allows_everything(action):
    assert not access.allowed([], action)
    assert not access.allowed(None, action)
    assert not access.allowed(["superuser", "Admin"], action)  # unknown names, case matters
    assert access.allowed(access.ALL_ROLES, action)


def test_the_strongest_role_held_decides():
    assert access.allowed(["viewer", "approver"], access.ROLLBACK)
    assert not access.allowed(["viewer", "operator"], access.PROMOTE)


def test_require_names_the_actor_the_action_and_the_role_needed():
    access.require(["operator"], access.TRAIN, "ana")  # allowed: no error

    with pytest.raises(access.PermissionDenied) as caught:
        access.require(["operator"], access.DEPLOY_ROLLOUT, "ana")

    assert str(caught.value) == "ana may not roll out a deployment: the 'admin' role is required"
    assert isinstance(caught.value, WorkbenchError)
    assert (caught.value.action, caught.value.role) == (access.DEPLOY_ROLLOUT, "admin")


def test_an_unknown_action_is_a_programming_error_naming_it():
    with pytest.raises(KeyError, match="delete everything"):
        access.allowed(["admin"], "delete everything")


def test_reason_denied_is_empty_when_allowed_and_names_the_role_otherwise():
    assert access.reason_denied(["admin"], access.PROMOTE) == ""
    assert access.reason_denied(["viewer"], access.RUN_JOB) == "Needs the operator role"


def test_promotion_keeps_the_approver_role_and_lets_an_admin_promote():
    assert APPROVER_ROLE == access.APPROVER == "approver"
    require_approver("root", {"root": ["admin"]})
    with pytest.raises(NotAnApprover, match="'approver' role is required"):
        require_approver("op", {"op": "operator"})
