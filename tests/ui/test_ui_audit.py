"""The one audit log from the UI: actions recorded as the signed-in user, shown on Overview."""

from __future__ import annotations

import pytest
from test_ui_roles import USERS
from ui_helpers import FIRST_RUN_TIMEOUT, PAGES, app

from app.auth import SESSION_KEY
from core.audit import read_events
from core.jobs import JobsDB
from core.workspace import Workspace

pytestmark = pytest.mark.slow


def signed_in(name: str, role: str):
    at = app(PAGES / f"{name}.py")
    at.secrets["workbench_users"] = USERS
    at.session_state[SESSION_KEY] = f"{role}-user"
    return at.run(timeout=FIRST_RUN_TIMEOUT)


def audit_table(at):
    return next(d.value for d in at.dataframe if "outcome" in d.value.columns)


def test_a_job_queued_from_the_page_is_audited_as_the_user_and_listed_on_the_overview(ui_ws_copy):
    at = signed_in("jobs", "operator")
    at.selectbox(key="jobs_job").select("drift_check")
    at.button(key="jobs_run").click().run()

    assert not at.exception
    [event] = read_events(Workspace.open(ui_ws_copy))
    assert (event["actor"], event["action"], event["target"]) == (
        "operator-user",
        "run a job",
        "drift_check",
    )
    assert (event["outcome"], event["source"]) == ("ok", "ui")
    db = JobsDB.for_workspace(Workspace.open(ui_ws_copy))
    command = db.command(event["details"]["command"])
    assert (command["job"], command["action"]) == ("drift_check", "run")
    assert command["created_by"] == "operator-user"

    at.selectbox(key="jobs_job").select("training_pipeline")
    at.button(key="jobs_pause").click().run()

    overview = signed_in("overview", "viewer")
    table = audit_table(overview)
    assert table[["actor", "action", "target", "outcome"]].values.tolist() == [
        ["operator-user", "pause a job", "training_pipeline", "ok"],
        ["operator-user", "run a job", "drift_check", "ok"],
    ]
    overview.multiselect(key="audit_actions").select("run a job").run()
    assert audit_table(overview)["target"].tolist() == ["drift_check"]
    overview.multiselect(key="audit_actors").select("operator-user").run()
    assert audit_table(overview)["target"].tolist() == ["drift_check"]
