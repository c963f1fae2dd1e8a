"""Experiments page: runs table, filters, URL-selected comparison, empty and broken stores."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from ui_helpers import FIRST_RUN_TIMEOUT, MAIN, PAGES, app, page, texts

from core.workspace.bootstrap import init_workspace


@pytest.fixture
def exp_env(exp_ws, monkeypatch) -> dict[str, str]:
    root, ids = exp_ws
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    return ids


def compared(ids: dict[str, str], *names: str) -> AppTest:
    at = app(PAGES / "experiments.py")
    at.query_params["runs"] = ",".join(ids[n] for n in names)
    return at.run(timeout=FIRST_RUN_TIMEOUT)


def test_table_lists_every_candidate_run_best_first_with_a_star(exp_env):
    at = page("experiments")

    assert not at.exception
    assert texts(at.title) == ["Experiments"]
    table = at.dataframe[0].value
    assert list(table.index) == [
        exp_env["random_forest@v1"],
        exp_env["random_forest@v2"],
        exp_env["knn@v1"],
    ]
    assert table["best"].tolist() == ["★", "", ""]
    assert any("Best by `test_roc_auc`" in t for t in texts(at.markdown))
    assert "3 candidate runs from 2 trainings" in at.caption[0].value
    assert not any(h.value.startswith("Comparison") for h in at.header)


def test_sorting_by_an_error_metric_puts_the_lowest_first(exp_env):
    at = page("experiments")

    at.selectbox[0].set_value("test_log_loss").run()

    assert not at.exception
    table = at.dataframe[0].value
    assert table.index[0] == exp_env["knn@v1"]
    assert table.loc[exp_env["knn@v1"], "best"] == "★"


def test_search_and_filters_narrow_the_table(exp_env):
    at = page("experiments")

    at.text_input[0].input("knn").run()
    assert list(at.dataframe[0].value.index) == [exp_env["knn@v1"]]

    at.text_input[0].input("").run()
    at.multiselect[1].set_value(["v2"]).run()
    assert not at.exception
    assert list(at.dataframe[0].value.index) == [exp_env["random_forest@v2"]]


def test_runs_in_the_url_show_metrics_params_charts_and_plots(exp_env):
    at = compared(exp_env, "random_forest@v1", "knn@v1")

    assert not at.exception
    assert [h.value for h in at.header] == ["Comparison of 2 runs"]
    assert [s.value for s in at.subheader] == [
        "Metrics",
        "Parameters",
        "Parallel coordinates",
        "Metric vs parameter",
        "Plots",
    ]
    metrics, params = at.dataframe[1].value, at.dataframe[2].value
    rf, knn = (
        f"random_forest · {exp_env['random_forest@v1'][:8]}",
        f"knn · {exp_env['knn@v1'][:8]}",
    )
    assert list(metrics.columns) == [rf, knn]
    assert metrics.loc["test_log_loss", knn] == pytest.approx(0.30)
    assert params.loc["model__n_estimators", rf] == "100"
    assert params.loc["model__n_estimators", knn] == "∅"
    assert any("parameters differ" in c for c in texts(at.caption))
    assert len(at.get("plotly_chart")) == 2
    assert len(at.get("image")) == 1
    assert any("no `roc_curve.png`" in c for c in texts(at.caption))


def test_same_params_are_not_flagged_and_unknown_ids_are_reported(exp_env):
    at = app(PAGES / "experiments.py")
    at.query_params["runs"] = f"{exp_env['random_forest@v1']},{exp_env['random_forest@v2']},nope"
    at.run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert "`nope`" in at.warning[0].value
    assert [h.value for h in at.header] == ["Comparison of 2 runs"]
    assert "1 of 3 parameters differ (highlighted)." in texts(at.caption)


def test_clear_selection_empties_the_url_and_hides_the_comparison(exp_env):
    at = compared(exp_env, "random_forest@v1", "knn@v1")

    at.button[1].click().run()

    assert not at.exception
    assert "runs" not in at.query_params
    assert not at.header


def test_removing_a_run_from_the_comparison_updates_the_url(exp_env):
    at = compared(exp_env, "random_forest@v1", "knn@v1")

    at.multiselect[2].set_value([exp_env["knn@v1"]]).run()

    assert not at.exception
    assert at.query_params["runs"] == exp_env["knn@v1"]
    assert [h.value for h in at.header] == ["Comparison of 1 run"]


def test_a_workspace_without_runs_explains_workbench_train(tmp_path, monkeypatch):
    init_workspace(tmp_path / "ws", demo="flights", initial=1)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)

    at = page("experiments")

    assert not at.exception
    assert "workbench train" in at.info[0].value
    assert not at.dataframe
    assert not (tmp_path / "ws" / "mlflow.db").exists()


def test_an_unreachable_tracking_server_is_one_error_line(exp_ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(exp_ws[0]))
    monkeypatch.setenv("WORKBENCH_TRACKING_URI", "http://127.0.0.1:9")

    at = page("experiments")

    assert not at.exception
    assert "127.0.0.1:9" in at.error[0].value
    assert not at.dataframe


def test_navigation_reaches_the_experiments_page(exp_env):
    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)

    at.switch_page("../pages/experiments.py").run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert texts(at.title) == ["Experiments"]
