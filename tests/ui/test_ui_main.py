"""The Streamlit entry point: sidebar and navigation."""

from __future__ import annotations

from ui_helpers import FIRST_RUN_TIMEOUT, MAIN, app, texts


def test_main_opens_overview_with_workspace_tracking_uri_and_champion(ui_env):
    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert texts(at.title) == ["Overview"]
    assert texts(at.sidebar.code) == [str(ui_env), f"sqlite:///{ui_env / 'mlflow.db'}"]
    assert "no champion yet" in texts(at.sidebar.markdown)[0]


def test_navigation_reaches_the_data_page(ui_env):
    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)

    at.switch_page("../pages/data.py").run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert texts(at.title) == ["Data"]


def test_main_with_a_missing_workspace_flags_it_in_the_sidebar(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "nowhere"))

    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert any("not a workspace" in t for t in texts(at.sidebar.caption))
    assert "is not a workbench workspace" in at.error[0].value


def test_sidebar_names_the_model_holding_the_champion_alias(ui_ws_copy):
    import mlflow

    from core.workspace import Workspace

    ws = Workspace.open(ui_ws_copy)
    client = mlflow.MlflowClient(ws.tracking_uri)
    client.create_registered_model(ws.config.project)
    experiment = client.create_experiment("ui", artifact_location=str(ui_ws_copy / "mlartifacts"))
    run = client.create_run(experiment).info.run_id
    version = client.create_model_version(ws.config.project, source=str(ui_ws_copy), run_id=run)
    client.set_registered_model_alias(ws.config.project, "champion", version.version)

    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert f"{ws.config.project} v{version.version}" in texts(at.sidebar.markdown)[0]
