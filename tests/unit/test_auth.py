"""UI authentication helpers: password hashing and the no-secrets fallback."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from app import auth
from core.registry.promotion import default_actor


def test_a_password_hash_verifies_only_the_same_password():
    stored = auth.hash_password("correct horse")

    assert stored.startswith("scrypt$16384$8$1$")
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct horse ", stored)


def test_each_hash_has_its_own_salt():
    assert auth.hash_password("same") != auth.hash_password("same")


@pytest.mark.parametrize(
    "stored", ["", "plain-text", "pbkdf2$1$2$3$aa$bb", "scrypt$16384$8$1$!!$??", "scrypt$x$8$1$a$b"]
)
def test_a_malformed_hash_never_verifies(stored):
    assert not auth.verify_password("anything", stored)


class _NoSecrets:
    def get(self, name, default=None):
        raise StreamlitSecretNotFoundError("No secrets found.")


def test_missing_or_unreadable_secrets_mean_no_authentication(monkeypatch):
    monkeypatch.setattr(st, "secrets", _NoSecrets())

    assert auth.auth_mode() == "none"
    assert auth.roles_by_user() is None
    user = auth.current_user()
    assert user == auth.User(default_actor(), auth.ALL_ROLES, authenticated=False, mode="none")
    assert user.can_approve


def test_an_auth_section_without_redirect_uri_is_not_oidc(monkeypatch):
    monkeypatch.setattr(st, "secrets", {"auth": {"client_id": "x"}, "workbench_users": {}})

    assert auth.auth_mode() == "none"
