"""Models page: versions, challenger vs champion, gates, promote / roll back, audit, sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest
from test_ui_browser import CHROMIUM, browser_page, serve
from ui_helpers import FIRST_RUN_TIMEOUT, MAIN, PAGES, app, page, texts
from workspaces import LENIENT_GATES, copy_workspace

from app.auth import hash_password
from core.registry.audit import read_audit
from core.workspace import Workspace

pytestmark = pytest.mark.slow

ACTION_TIMEOUT = 60  # a promotion may evaluate gates: load two models, score the holdout
QUICK_TRAINING = {"budget": {"trials": 1, "seconds": 30}, "cv_folds": 2}
USERS = {
    "ana": {"password_hash": hash_password("ana-pw"), "roles": ["approver"]},
    "bob": {"password_hash": hash_password("bob-pw"), "roles": "viewer"},
}


def edit_config(root: Path, section: str, value: dict) -> None:
    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg[section] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def models_template(trained_template, tmp_path_factory) -> Path:
    """The trained demo (champion v1) plus a naive Bayes v2 that fails two gates (no alias)."""
    from core.training.train import train

    root = copy_workspace(trained_template, tmp_path_factory.mktemp("models") / "ws")
    edit_config(root, "training", {**QUICK_TRAINING, "candidates": ["naive_bayes"]})
    result = train(Workspace.open(root))
    assert result.registered["version"] == "2" and result.registered["gates"] == "fail"
    return root


@pytest.fixture
def models_ws(models_template, tmp_path, monkeypatch) -> Workspace:
    """A private copy of the champion + failing v2 workspace, opened by the UI."""
    root = copy_workspace(models_template, tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    return Workspace.open(root)


def champion(ws: Workspace) -> str:
    import mlflow

    client = mlflow.MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    return str(client.get_model_version_by_alias(ws.config.model_name, "champion").version)


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    return at.run(timeout=ACTION_TIMEOUT)


def promote_through_ui(at: AppTest, reason: str) -> AppTest:
    at.text_input(key="promote_reason").input(reason)
    click(at, "promote")
    return click(at, "confirm")


def with_users(user: str | None = None, password: str = "") -> AppTest:
    """The page with `[workbench_users]` secrets, signed in through the sidebar form if asked."""
    at = app(PAGES / "models.py")
    at.secrets["workbench_users"] = USERS
    at.run(timeout=FIRST_RUN_TIMEOUT)
    if user:
        at.sidebar.text_input(key="login_username").input(user)
        at.sidebar.text_input(key="login_password").input(password)
        at.sidebar.button[0].click()
        at.run(timeout=ACTION_TIMEOUT)
    return at


def audit_rows(at: AppTest):
    return next(d.value for d in at.dataframe if "who" in d.value.columns)


def test_versions_table_shows_both_versions_with_aliases_and_the_challengers_gates(models_ws):
    at = page("models")

    assert not at.exception
    assert texts(at.title) == ["Models"]
    table = at.dataframe[0].value
    assert table["version"].tolist() == ["2", "1"]
    assert table["aliases"].tolist() == ["", "champion"]  # failed gates: no challenger alias
    assert table["candidate"].tolist()[0] == "naive_bayes"
    assert table["gates"].tolist()[0] == "fail"
    assert at.selectbox(key="models_version").value == "2"
    comparison = at.dataframe[1].value
    assert comparison.index[0] == "roc_auc"
    assert comparison.loc["roc_auc", "better"] == "champion"  # naive Bayes loses on the holdout
    assert comparison.loc["log_loss", "better"] == "champion"  # lower is better
    gates = next(d.value for d in at.dataframe if "gate" in d.value.columns)
    failing = set(gates.loc[gates["status"] == "fail", "gate"])
    assert failing == {"beat_champion", "no_overfitting"}
    assert any("2 of 4 gates passed" in t for t in texts(at.error))
    assert audit_rows(at)["action"].tolist() == ["initial_champion"]


def test_promote_without_a_reason_is_refused_with_a_message(models_ws):
    at = page("models")

    click(at, "promote")

    assert not at.exception
    assert "A reason is required: it is stored in the audit log." in texts(at.error)
    assert not [b for b in at.button if b.key == "confirm"]
    assert champion(models_ws) == "1"


def test_promote_with_a_reason_and_confirmation_moves_the_champion_and_audits_it(models_ws):
    edit_config(models_ws.root, "gates", LENIENT_GATES)
    at = page("models")
    click(at, "evaluate_gates")
    assert "Gates of v2 evaluated: pass." in texts(at.success)

    at.text_input(key="promote_reason").input("better recall on late flights")
    click(at, "promote")
    assert champion(models_ws) == "1"  # nothing moves before the confirmation
    assert any("replacing v1" in t for t in texts(at.warning))
    click(at, "confirm")

    assert not at.exception
    assert champion(models_ws) == "2"
    assert any("champion v1 → v2 by" in t for t in texts(at.success))
    assert at.dataframe[0].value["aliases"].tolist() == ["champion", ""]
    newest = audit_rows(at).iloc[0]
    assert (newest["action"], newest["change"], newest["forced"]) == ("promote", "v1 → v2", "")
    assert newest["reason"] == "better recall on late flights"
    assert any(e.label.endswith("promote v1 → v2 · " + newest["who"]) for e in at.expander)
    assert at.text_input(key="promote_reason").value == ""


def test_failed_gates_are_shown_and_a_forced_promotion_is_recorded(models_ws):
    at = promote_through_ui(page("models"), "naive Bayes recall is what ops wants")

    assert champion(models_ws) == "1"
    assert "v2 failed 2 gate(s):" in texts(at.error)
    assert at.button(key="confirm").label == "Promote anyway (forced, recorded)"
    click(at, "confirm")

    assert not at.exception
    assert champion(models_ws) == "2"
    assert any("(forced past failed gates)" in t for t in texts(at.success))
    record = read_audit(models_ws)[0]
    assert record["forced"] is True and record["to_version"] == "2"
    assert {g["name"] for g in record["gates"] if not g["passed"]} == {
        "beat_champion",
        "no_overfitting",
    }
    assert audit_rows(at).iloc[0]["forced"] == "yes"


def test_rollback_returns_the_previous_champion(models_ws):
    from core.registry.promotion import promote

    promote(models_ws, "2", "try the challenger", actor="ana", force=True)
    at = page("models")
    assert at.button(key="rollback").label == "Roll back to v1"

    at.text_input(key="rollback_reason").input("complaints about false alarms")
    click(at, "rollback")
    assert champion(models_ws) == "2"  # nothing moves before the confirmation
    assert any("champion **v1** (replacing v2)" in t for t in texts(at.warning))
    click(at, "confirm")

    assert not at.exception
    assert champion(models_ws) == "1"
    newest = audit_rows(at).iloc[0]
    assert (newest["action"], newest["change"]) == ("rollback", "v2 → v1")
    assert newest["reason"] == "complaints about false alarms"
    back = at.button(key="rollback")  # v1 was the first champion: nothing before it
    assert back.disabled and back.label == "Roll back"


def test_with_password_users_nobody_signed_in_cannot_promote(models_ws):
    at = with_users()

    assert not at.exception
    assert at.button(key="promote").disabled and at.button(key="rollback").disabled
    assert any("Sign in (sidebar)" in t for t in texts(at.warning))
    assert [t.label for t in at.sidebar.text_input] == ["Username", "Password"]


def test_a_wrong_password_does_not_sign_in(models_ws):
    at = with_users("ana", "not-her-password")

    assert not at.exception
    assert "Unknown user or wrong password." in texts(at.sidebar.error)
    assert at.button(key="promote").disabled


def test_a_signed_in_non_approver_sees_promotion_disabled(models_ws):
    at = with_users("bob", "bob-pw")

    assert not at.exception
    assert any("Signed in as **bob** (viewer)" in t for t in texts(at.sidebar.caption))
    assert at.button(key="promote").disabled
    assert "bob may not promote models: the 'approver' role is required." in texts(at.warning)


def test_a_signed_in_approver_promotes_and_is_the_audited_actor(models_ws):
    at = with_users("ana", "ana-pw")
    assert not at.button(key="promote").disabled

    promote_through_ui(at, "approved in the weekly review")
    click(at, "confirm")  # past the failed gates

    assert not at.exception
    assert champion(models_ws) == "2"
    assert read_audit(models_ws)[0]["actor"] == "ana"
    assert audit_rows(at).iloc[0]["who"] == "ana"

    at.sidebar.button(key="logout").click().run(timeout=ACTION_TIMEOUT)
    assert at.button(key="promote").disabled


def test_an_oidc_user_gets_roles_from_the_secrets(models_ws):
    at = app(PAGES / "models.py")
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "workbench",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
    }
    at.secrets["workbench_roles"] = {"ana@example.com": ["approver"]}
    at.user = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}
    at.run(timeout=FIRST_RUN_TIMEOUT)

    assert not at.exception
    assert any("Signed in as **ana@example.com**" in t for t in texts(at.sidebar.caption))
    assert not at.button(key="promote").disabled

    at.user = {"is_logged_in": False}
    at.run(timeout=ACTION_TIMEOUT)
    assert at.button(key="promote").disabled
    assert at.sidebar.button(key="login_default").label == "Log in"


def test_without_a_registered_model_the_page_explains_workbench_train(ui_env):
    at = page("models")

    assert not at.exception
    assert "`workbench train`" in at.info[0].value
    assert not (ui_env / "mlflow.db").exists()  # reading did not create a store


def test_the_sidebar_champion_follows_a_promotion_made_on_the_models_page(models_ws):
    at = app(MAIN).run(timeout=FIRST_RUN_TIMEOUT)
    assert "flights-delay v1" in texts(at.sidebar.markdown)[0]
    at.switch_page("../pages/models.py").run(timeout=FIRST_RUN_TIMEOUT)
    assert texts(at.title) == ["Models"]

    promote_through_ui(at, "forced for the demo")
    click(at, "confirm")

    assert not at.exception
    assert "flights-delay v2" in texts(at.sidebar.markdown)[0]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_promoting_in_chromium_moves_the_sidebar_champion(models_ws, tmp_path):
    from playwright.sync_api import sync_playwright

    from core.registry.gates import evaluate_gates

    edit_config(models_ws.root, "gates", LENIENT_GATES)
    assert evaluate_gates(Workspace.open(models_ws.root), "flights-delay", "2").passed
    with serve(models_ws.root, tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser, pw = browser_page(p)
        try:
            pw.goto(f"{url}/models", timeout=30_000)
            pw.get_by_role("heading", name="Models").wait_for(timeout=60_000)
            sidebar = pw.get_by_test_id("stSidebar")
            sidebar.get_by_text("flights-delay v1").wait_for(timeout=30_000)
            reason = pw.get_by_label("Reason for promoting v2")
            reason.fill("passes every gate")
            reason.press("Enter")
            pw.get_by_role("button", name="Promote v2").click()
            pw.get_by_text("Reason: “passes every gate”").wait_for(timeout=30_000)
            pw.get_by_role("button", name="Confirm: promote to v2").click()
            pw.get_by_text("champion v1 → v2 by").wait_for(timeout=60_000)
            sidebar.get_by_text("flights-delay v2").wait_for(timeout=30_000)
            assert champion(models_ws) == "2"
            assert pw.get_by_text("Traceback").count() == 0
        finally:
            browser.close()
