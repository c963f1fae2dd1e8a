"""The CLI records its changes in the audit log: the OS user, source `cli`, ok or failed."""

from __future__ import annotations

import pytest
from cli_output import wide_console
from typer.testing import CliRunner

from app.cli import app
from core import access
from core.audit import FAILED, OK, read_events
from core.registry.promotion import default_actor
from core.workspace import CONFIG_NAME, Workspace
from core.workspace.bootstrap import BLANK_CONFIG


@pytest.fixture
def ws(tmp_path) -> Workspace:
    (tmp_path / CONFIG_NAME).write_text(BLANK_CONFIG)
    return Workspace.open(tmp_path)


def _run(ws: Workspace, *args: str):
    with wide_console():
        return CliRunner().invoke(app, [*args, "-w", str(ws.root)])


def _last(ws: Workspace) -> dict:
    events = read_events(ws, limit=1)
    assert events, "no audit event was recorded"
    return events[0]


def test_keys_create_and_revoke_are_recorded_with_name_and_role_never_the_key(ws):
    created = _run(ws, "keys", "create", "etl", "--role", "admin")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert _run(ws, "keys", "revoke", "etl").exit_code == 0
    revoke, create = read_events(ws)
    assert (create["actor"], create["source"], create["outcome"]) == (default_actor(), "cli", OK)
    assert (create["action"], create["target"]) == (access.MANAGE_API_KEYS, "etl")
    assert create["details"]["role"] == "admin"
    assert (revoke["target"], revoke["details"]["change"], revoke["outcome"]) == (
        "etl",
        "revoke",
        OK,
    )
    assert key not in (ws.state / "audit.jsonl").read_text()


def test_a_failing_command_is_recorded_failed_with_its_error_line(ws):
    done = _run(ws, "keys", "revoke", "ghost")
    assert done.exit_code == 1
    event = _last(ws)
    assert (event["action"], event["target"], event["outcome"]) == (
        access.MANAGE_API_KEYS,
        "ghost",
        FAILED,
    )
    assert "no active key named 'ghost'" in event["reason"]
    assert event["source"] == "cli"


@pytest.mark.parametrize(
    ("verb", "action"),
    [("run", access.RUN_JOB), ("pause", access.PAUSE_JOB), ("resume", access.RESUME_JOB)],
)
def test_queued_job_commands_are_recorded_with_the_command_id(ws, verb, action):
    done = _run(ws, "jobs", verb, "drift_check")
    assert done.exit_code == 0, done.output
    event = _last(ws)
    assert (event["action"], event["target"], event["outcome"]) == (action, "drift_check", OK)
    assert (event["actor"], event["source"]) == (default_actor(), "cli")
    assert isinstance(event["details"]["command"], int)


def test_an_unknown_job_is_recorded_as_a_failed_attempt(ws):
    assert _run(ws, "jobs", "pause", "nightly").exit_code == 1
    event = _last(ws)
    assert (event["action"], event["target"], event["outcome"]) == (
        access.PAUSE_JOB,
        "nightly",
        FAILED,
    )
    assert "unknown job 'nightly'" in event["reason"]


def test_list_commands_record_nothing(ws):
    assert _run(ws, "keys", "list").exit_code == 0
    assert _run(ws, "jobs", "list").exit_code == 0
    assert read_events(ws) == []


def test_a_deploy_rollback_without_an_engine_is_recorded_failed_in_the_named_workspace(
    ws, monkeypatch
):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{ws.root}/no-engine.sock")
    assert _run(ws, "deploy", "rollback", "--name", "blue").exit_code == 1
    event = _last(ws)
    assert (event["action"], event["target"], event["outcome"]) == (
        access.DEPLOY_ROLLBACK,
        "blue",
        FAILED,
    )
    assert "no-engine.sock" in event["reason"] and event["source"] == "cli"


def test_a_deploy_rollback_with_a_workbench_home_that_is_no_workspace_records_nothing(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "not-yet"))  # as `make` exports it
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with wide_console():
        done = CliRunner().invoke(app, ["deploy", "rollback", "--name", "blue"])

    assert done.exit_code == 1
    assert "no-engine.sock" in done.output and "not a workbench workspace" not in done.output
    assert not (tmp_path / "not-yet").exists()


def test_init_and_demo_drip_are_recorded(tmp_path):
    root = tmp_path / "new"
    with wide_console():
        made = CliRunner().invoke(app, ["init", "--demo", "--initial", "1", "-w", str(root)])
    assert made.exit_code == 0, made.output
    ws = Workspace.open(root)
    init = _last(ws)
    assert (init["action"], init["source"], init["outcome"]) == (access.INIT_WORKSPACE, "cli", OK)
    assert init["details"] == {"config_created": True, "demo": "flights"}

    assert _run(ws, "demo", "drip").exit_code == 0
    drip = _last(ws)
    assert drip["action"] == access.LAND_DEMO_DATA and len(drip["details"]["files"]) == 1
    assert (ws.landing / drip["details"]["files"][0]).is_file()
