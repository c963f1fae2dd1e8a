"""A first admin from the environment (the compose stack's UI has no secrets file).

`WORKBENCH_ADMIN_USER` + `WORKBENCH_ADMIN_PASSWORD_HASH` turn password authentication on with
that user as admin; the sign-in goes through the real sidebar form (AppTest).
"""

from __future__ import annotations

import logging

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app import auth
from core import access

PASSWORD = "s3cret admin"


def _sidebar_script() -> None:  # run by AppTest as a script: imports inside
    import streamlit as st

    from app import auth

    user = auth.sign_in_sidebar()
    st.write(f"user={user.name}; roles={','.join(user.roles)}; mode={user.mode}")


@pytest.fixture(scope="module")
def stored() -> str:
    return auth.hash_password(PASSWORD)


@pytest.fixture
def env_admin(monkeypatch, stored):
    monkeypatch.setenv(auth.ADMIN_USER_ENV, "root-admin")
    monkeypatch.setenv(auth.ADMIN_HASH_ENV, stored)


def sign_in(username: str, password: str, users: dict | None = None) -> AppTest:
    at = AppTest.from_function(_sidebar_script, default_timeout=30)
    if users is not None:
        at.secrets["workbench_users"] = users
    at.run(timeout=60)
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    return at.sidebar.button[0].click().run()


def shown(at: AppTest) -> str:
    return at.markdown[-1].value


def test_the_environment_admin_signs_in_with_the_admin_role(env_admin):
    at = sign_in("root-admin", PASSWORD)

    assert not at.exception
    assert shown(at) == "user=root-admin; roles=admin; mode=password"
    assert any("Signed in as **root-admin** (admin)" in c.value for c in at.sidebar.caption)


def test_a_wrong_password_for_the_environment_admin_is_refused(env_admin):
    at = sign_in("root-admin", "guess")

    assert shown(at) == "user=; roles=; mode=password"
    assert [e.value for e in at.sidebar.error] == ["Unknown user or wrong password."]


def test_the_environment_admin_joins_the_users_of_the_secrets(env_admin, stored):
    users = {"ana": {"password_hash": stored, "roles": ["viewer"]}}
    at = sign_in("ana", PASSWORD, users)

    assert shown(at) == "user=ana; roles=viewer; mode=password"
    assert auth.roles_by_user() is not None  # outside AppTest: no secrets, the env admin only


def test_the_environment_admin_may_manage_api_keys(env_admin, monkeypatch):
    monkeypatch.setattr(st, "secrets", {})
    monkeypatch.setattr(st, "session_state", {auth.SESSION_KEY: "root-admin"})

    assert auth.auth_mode() == "password"
    assert auth.roles_by_user() == {"root-admin": ("admin",)}
    assert auth.current_user().may(access.MANAGE_API_KEYS)


@pytest.mark.parametrize("only", [auth.ADMIN_USER_ENV, auth.ADMIN_HASH_ENV])
def test_half_the_pair_adds_no_admin_and_says_which_is_missing(monkeypatch, stored, caplog, only):
    monkeypatch.setattr(st, "secrets", {})
    monkeypatch.delenv(auth.ADMIN_USER_ENV, raising=False)
    monkeypatch.delenv(auth.ADMIN_HASH_ENV, raising=False)
    monkeypatch.setenv(only, "root-admin" if only == auth.ADMIN_USER_ENV else stored)
    auth._warn_half_admin.cache_clear()

    with caplog.at_level(logging.WARNING, logger="workbench.ui"):
        assert auth.auth_mode() == "none"
    missing = auth.ADMIN_HASH_ENV if only == auth.ADMIN_USER_ENV else auth.ADMIN_USER_ENV
    assert f"{missing} is not set" in caplog.text
