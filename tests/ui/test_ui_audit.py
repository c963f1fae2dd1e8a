"""The one audit log from the UI: actions recorded as the signed-in user, shown on Overview."""

from __future__ import annotations

import pytest
from test_ui_roles import USERS
from ui_helpers import FIRST_RUN_TIMEOUT, PAGES, app
from workspaces import copy_workspace

from app.auth import SESSION_KEY
from core.audit import read_events
from core.jobs import JobsDB
from core.registry.audit import read_audit
from core.workspace import Workspace

pytestmark = pytest.mark.slow
ACTION_TIMEOUT = 60  # gate evaluation loads two models and scores the holdout


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


def test_gate_evaluation_and_a_promotion_from_the_models_page_are_both_in_the_log(
    two_versions_template, tmp_path, monkeypatch
):
    root = copy_workspace(two_versions_template, tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    ws = Workspace.open(root)
    at = signed_in("models", "approver")
    at.button(key="evaluate_gates").click().run(timeout=ACTION_TIMEOUT)
    at.text_input(key="promote_reason").input("better on the holdout")
    at.button(key="promote").click().run(timeout=ACTION_TIMEOUT)
    at.button(key="confirm").click().run(timeout=ACTION_TIMEOUT)

    assert not at.exception
    promoted, evaluated = read_events(ws)[:2]
    model = ws.config.model_name
    assert (evaluated["actor"], evaluated["action"], evaluated["target"]) == (
        "approver-user",
        "evaluate gates",
        f"{model} v2",
    )
    assert evaluated["outcome"] == "ok" and evaluated["details"]["status"] == "pass"
    assert (promoted["actor"], promoted["action"], promoted["target"]) == (
        "approver-user",
        "promote",
        f"{model} v2",
    )
    assert promoted["reason"] == "better on the holdout"
    assert promoted["details"]["audit_id"] == read_audit(ws)[0]["id"]  # the same promotion
