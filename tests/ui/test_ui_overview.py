"""Overview page: counts, last run, quarantine, alerts, champion; errors never a traceback."""

from __future__ import annotations

import pytest
from ui_helpers import BAD_FILE, page, texts

from core.data.versioning import list_versions
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def deltas(at) -> dict[str, str]:
    return {m.label: m.delta for m in at.metric}


def test_overview_shows_versions_last_run_quarantine_and_no_champion(ui_env):
    at = page("overview")

    assert not at.exception
    latest = list_versions(Workspace.open(ui_env))[0]
    shown = metrics(at)
    assert shown["Data versions"] == "2"
    assert shown["Rows in latest version"] == f"{latest.rows:,}"
    assert deltas(at)["Rows in latest version"] == latest.id
    assert shown["Last pipeline run"] == "partial"
    assert shown["Quarantined batches"] == "1"
    assert (shown["Champion"], deltas(at)["Champion"]) == ("none", "no champion yet")
    alerts = at.dataframe[0].value
    assert alerts["message"].str.contains(BAD_FILE).any()


def test_overview_rerenders_from_cache_within_the_default_timeout(ui_env):
    at = page("overview")

    at.run()  # AppTest's default 3 s timeout: cached reads only

    assert not at.exception


def test_empty_workspace_suggests_running_the_data_pipeline(tmp_path, monkeypatch):
    init_workspace(tmp_path / "empty")
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "empty"))

    at = page("overview")

    assert not at.exception
    assert metrics(at)["Data versions"] == "0"
    assert any("run the data pipeline" in t for t in texts(at.info))


@pytest.mark.parametrize("name", ["overview", "data"])
def test_missing_workspace_shows_an_error_and_how_to_fix_it(name, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "nowhere"))

    at = page(name)

    assert not at.exception
    assert "is not a workbench workspace" in at.error[0].value
    assert "workbench init --demo" in at.info[0].value


@pytest.mark.parametrize("name", ["overview", "data"])
def test_invalid_config_shows_the_bad_key_not_a_traceback(name, tmp_path, monkeypatch):
    (tmp_path / "workbench.yaml").write_text("project: x\ntask: clustering\n", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))

    at = page(name)

    assert not at.exception
    assert len(at.error) == 1
    assert "task" in at.error[0].value
