"""What scripts read from `workbench`: whole table rows when piped, and `--json` rows."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys

import pytest
from rich.table import Table

from app.cli import common
from core.workspace.bootstrap import init_workspace

CLI = [sys.executable, "-m", "app.cli"]
LONG = "a_cell_much_longer_than_any_terminal_" * 6


def _workbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def _piped(command: str, env: dict) -> str:
    """stdout of `python -m app.cli COMMAND | cat`: a real pipe, as a shell script has it."""
    line = " ".join(shlex.quote(a) for a in CLI) + f" {command} | cat"
    return subprocess.run(
        line, shell=True, capture_output=True, text=True, env=env, timeout=120, check=True
    ).stdout


@pytest.fixture
def fresh_root(tmp_path):
    root = tmp_path / "ws"
    init_workspace(root)
    return root


@pytest.fixture
def narrow_env(fresh_root):
    """A narrow `$COLUMNS`, as a CI runner or a small terminal exports it."""
    return dict(os.environ, WORKBENCH_HOME=str(fresh_root), COLUMNS="40")


def test_a_table_printed_to_a_file_keeps_every_cell_whole(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(common.out, "_file", buffer)  # undone to None: follow sys.stdout
    table = Table("job", "note")
    table.add_row("data_pipeline", LONG)

    common.print_table(table)

    (row,) = [line for line in buffer.getvalue().splitlines() if "data_pipeline" in line]
    assert LONG in row
    assert common.out._width is None  # the console follows the terminal again afterwards


@pytest.mark.slow
def test_jobs_list_piped_to_grep_finds_the_whole_row(narrow_env):
    found = subprocess.run(
        " ".join(shlex.quote(a) for a in CLI) + " jobs list | grep data_pipeline",
        shell=True,
        capture_output=True,
        text=True,
        env=narrow_env,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    assert "data_pipeline" in found.stdout and "cron 0 2 * * * (UTC)" in found.stdout


@pytest.mark.slow
def test_every_list_command_prints_json_rows_on_an_empty_workspace(narrow_env):
    for command in (
        ["jobs", "list"],
        ["jobs", "history"],
        ["data", "versions"],
        ["alerts"],
        ["drift-report"],
    ):
        done = _workbench(*command, "--json", env=narrow_env)
        assert done.returncode == 0, (command, done.stderr)
        rows = json.loads(done.stdout)
        assert isinstance(rows, list), command
    jobs = json.loads(_workbench("jobs", "list", "--json", env=narrow_env).stdout)
    assert [j["job"] for j in jobs][0] == "data_pipeline"
    assert set(jobs[0]) == set(_keys("jobs", "LIST_KEYS"))
    assert json.loads(_workbench("data", "versions", "--json", env=narrow_env).stdout) == []


def _keys(module: str, name: str) -> tuple[str, ...]:
    import importlib

    return getattr(importlib.import_module(f"app.cli.{module}"), name)


@pytest.mark.slow
def test_versions_and_models_piped_and_as_json_on_a_trained_workspace(trained_ws):
    env = dict(os.environ, WORKBENCH_HOME=str(trained_ws.root), COLUMNS="40")
    name = trained_ws.config.model_name

    versions = json.loads(_workbench("data", "versions", "--json", env=env).stdout)
    (version,) = versions
    assert set(version) == {"id", "commit", "date", "rows", "md5", "batches"}
    assert version["id"] in _piped("data versions", env)

    models = json.loads(_workbench("models", "list", "--json", env=env).stdout)
    assert models[-1]["version"] == "1" and "champion" in models[-1]["aliases"]
    assert set(models[0]) == set(_keys("models", "LIST_KEYS"))
    (row,) = [line for line in _piped("models list", env).splitlines() if "champion" in line]
    assert models[-1]["created"][:16].replace("T", " ") in row  # the date is not cut

    history = _workbench("models", "history", name, "--json", env=env)
    assert history.returncode == 0, history.stderr
    assert all(set(r) == set(_keys("models", "HISTORY_KEYS")) for r in json.loads(history.stdout))
