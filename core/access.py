"""Who may do what: the workbench's roles and the role every mutating action needs.

The rules live here, free of any UI, so the pages, the CLI and the scheduler apply the same
ones. The roles are ordered, and each holds the ones before it:

- `viewer`: reads everything, changes nothing.
- `operator`: runs the data pipeline, validates files, trains and retrains, evaluates gates,
  runs, pauses and resumes jobs, runs drift checks, imports labels, writes reports, sends test
  predictions (they land in the prediction log), lands demo data, starts and stops the
  workbench's services (`workbench up` / `down`).
- `approver`: an operator who may also promote and roll back models.
- `admin`: holds every role, and alone manages API keys, serving settings and deployments, and
  sets up a workspace (`workbench init`).

Without authentication (the local single-user default) the user holds every role
(`ALL_ROLES`). A role name this module does not know is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import WorkbenchError

VIEWER, OPERATOR, APPROVER, ADMIN = "viewer", "operator", "approver", "admin"
ROLES = (VIEWER, OPERATOR, APPROVER, ADMIN)
"""Every role, weakest first: a role holds the rights of every role before it."""
ALL_ROLES = ROLES
"""What a user holds when no authentication is configured."""

# operator
RUN_PIPELINE = "run pipeline"
VALIDATE_FILE = "validate a file"
TRAIN = "train"
RETRAIN = "retrain"
EVALUATE_GATES = "evaluate gates"
RUN_JOB = "run a job"
PAUSE_JOB = "pause a job"
RESUME_JOB = "resume a job"
RUN_DRIFT_CHECK = "run a drift check"
IMPORT_LABELS = "import labels"
WRITE_REPORTS = "write reports"
TRY_PREDICTION = "send a test prediction"
LAND_DEMO_DATA = "land demo data"
START_SERVICES = "start services"
STOP_SERVICES = "stop services"
# approver
PROMOTE = "promote"
ROLLBACK = "roll back"
# admin
MANAGE_API_KEYS = "manage API keys"
SERVING_SETTINGS = "change serving settings"
RELOAD_MODEL = "reload the served model"
DEPLOY_BUILD = "build images"
DEPLOY_ROLLOUT = "roll out a deployment"
DEPLOY_ROLLBACK = "roll back a deployment"
INIT_WORKSPACE = "set up the workspace"

ACTIONS: dict[str, str] = {
    RUN_PIPELINE: OPERATOR,
    VALIDATE_FILE: OPERATOR,
    TRAIN: OPERATOR,
    RETRAIN: OPERATOR,
    EVALUATE_GATES: OPERATOR,
    RUN_JOB: OPERATOR,
    PAUSE_JOB: OPERATOR,
    RESUME_JOB: OPERATOR,
    RUN_DRIFT_CHECK: OPERATOR,
    IMPORT_LABELS: OPERATOR,
    WRITE_REPORTS: OPERATOR,
    TRY_PREDICTION: OPERATOR,
    LAND_DEMO_DATA: OPERATOR,
    START_SERVICES: OPERATOR,
    STOP_SERVICES: OPERATOR,
    PROMOTE: APPROVER,
    ROLLBACK: APPROVER,
    MANAGE_API_KEYS: ADMIN,
    SERVING_SETTINGS: ADMIN,
    RELOAD_MODEL: ADMIN,
    DEPLOY_BUILD: ADMIN,
    DEPLOY_ROLLOUT: ADMIN,
    DEPLOY_ROLLBACK: ADMIN,
    INIT_WORKSPACE: ADMIN,
}
"""Every mutating action → the weakest role allowed to do it."""


class PermissionDenied(WorkbenchError):
    """The user lacks the role an action needs (the message names both)."""

    def __init__(self, message: str, action: str = "", role: str = "") -> None:
        super().__init__(message)
        self.action = action
        self.role = role


def role_needed(action: str) -> str:
    """The weakest role allowed to do `action`.

    Raises:
        KeyError: `action` is not in `ACTIONS` (a programming error, named in the message).
    """
    try:
        return ACTIONS[action]
    except KeyError:
        raise KeyError(f"unknown action {action!r}: not in core.access.ACTIONS") from None


def rank(roles: Iterable[str] | str | None) -> int:
    """The index in `ROLES` of the strongest role held (-1 for none or only unknown roles)."""
    held = [roles] if isinstance(roles, str) else list(roles or ())
    return max((ROLES.index(r) for r in held if r in ROLES), default=-1)


def allowed(roles: Iterable[str] | str | None, action: str) -> bool:
    """Whether a user holding `roles` may do `action`."""
    return rank(roles) >= ROLES.index(role_needed(action))


def require(roles: Iterable[str] | str | None, action: str, actor: str = "") -> None:
    """Refuse `action` to a user holding `roles` when none of them is strong enough.

    Args:
        roles: the roles held (a single role name is accepted).
        action: a key of `ACTIONS`.
        actor: who asks, named in the message.

    Raises:
        PermissionDenied: the roles do not allow the action.
    """
    if not allowed(roles, action):
        needed = role_needed(action)
        who = actor or "this user"
        raise PermissionDenied(
            f"{who} may not {action}: the '{needed}' role is required", action, needed
        )


def reason_denied(roles: Iterable[str] | str | None, action: str) -> str:
    """Why `action` is refused, as a control's help text ("" when allowed)."""
    return "" if allowed(roles, action) else f"Needs the {role_needed(action)} role"
