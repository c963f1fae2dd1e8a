"""Who is using the UI: an OIDC login, a user with a hashed password in secrets, or the OS user.

The mode is read from `st.secrets` on every call, never at import:

- OIDC: an `[auth]` section `st.login` can use (`redirect_uri`, `cookie_secret`, and the
  provider's `client_id`/`client_secret`/`server_metadata_url` directly or in `[auth.<provider>]`
  sub-sections). The user is `st.user` (email, else name); roles come from `[workbench_roles]`
  (user → role or list of roles).
- Passwords: a `[workbench_users]` section, username → `{password_hash, roles}`; the hash is
  `hash_password`'s salted scrypt. The signed-in name is kept in `st.session_state`. A first
  admin may come from the environment instead (a container with no secrets file):
  `WORKBENCH_ADMIN_USER` and `WORKBENCH_ADMIN_PASSWORD_HASH` add that user with the admin role.
- Neither: the OS user holds every role (anyone may promote, as on the CLI).

Which role each action needs is `core.access`'s rule; `User.may` and `why_not` apply it.

Create a password hash without the CLI: `python -m app.auth` (prompts, prints the hash).
"""

from __future__ import annotations

import base64
import binascii
import functools
import getpass
import hashlib
import hmac
import importlib.util
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import streamlit as st

from core import access
from core.registry.promotion import APPROVER_ROLE, default_actor

log = logging.getLogger("workbench.ui")

Mode = Literal["oidc", "password", "none"]
ALL_ROLES = access.ALL_ROLES
"""Every role the workbench checks: what the OS user holds when no authentication is set up."""
SESSION_KEY = "workbench_user"
USERS_SECTION = "workbench_users"
ROLES_SECTION = "workbench_roles"
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
ADMIN_USER_ENV, ADMIN_HASH_ENV = "WORKBENCH_ADMIN_USER", "WORKBENCH_ADMIN_PASSWORD_HASH"


@dataclass(frozen=True)
class User:
    """The person acting in this session.

    Attributes:
        name: the signed-in user, the OS user without authentication, "" when nobody signed in.
        roles: the roles held (every role without authentication).
        authenticated: True when signed in through OIDC or a password.
        mode: how users are authenticated: "oidc", "password" or "none".
    """

    name: str
    roles: tuple[str, ...] = ()
    authenticated: bool = False
    mode: Mode = "none"

    def may(self, action: str) -> bool:
        """Whether this user may do `action` (a key of `core.access.ACTIONS`)."""
        return bool(self.name) and access.allowed(self.roles, action)

    @property
    def can_approve(self) -> bool:
        """Whether this user may promote and roll back models."""
        return self.may(access.PROMOTE)


# --- passwords ---------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A salted scrypt hash of `password`: `scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a `hash_password` hash (False for a malformed hash)."""
    try:
        scheme, n, r, p, salt, digest = str(stored).split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError, binascii.Error, MemoryError) as exc:
        log.warning("unusable password hash in secrets: %s", exc)
        return False
    return hmac.compare_digest(actual, expected)


# --- secrets -----------------------------------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _section(name: str) -> dict | None:
    """A top-level secrets table as a plain dict; None when absent or there are no secrets."""
    try:
        value = st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml, or one that does not parse: no authentication
        return None
    return _plain(value) if isinstance(value, Mapping) else None


@functools.cache
def _warn_half_admin(missing: str) -> None:
    log.warning(
        "%s is not set: %s and %s go together, no admin from the environment",
        missing,
        ADMIN_USER_ENV,
        ADMIN_HASH_ENV,
    )


def _env_admin() -> dict:
    """The admin the environment names (`ADMIN_USER_ENV` + `ADMIN_HASH_ENV`), as a users entry."""
    name = os.environ.get(ADMIN_USER_ENV, "").strip()
    stored = os.environ.get(ADMIN_HASH_ENV, "").strip()
    if not (name and stored):
        if name or stored:  # once per process: this runs on every check of the user
            _warn_half_admin(ADMIN_HASH_ENV if name else ADMIN_USER_ENV)
        return {}
    return {name: {"password_hash": stored, "roles": [access.ADMIN]}}


def _users() -> dict:
    """`[workbench_users]` plus the environment's admin (which replaces a same-named entry)."""
    return {**(_section(USERS_SECTION) or {}), **_env_admin()}


def _oidc_providers(section: dict | None) -> list[str | None] | None:
    """Providers `st.login` can use (None = the `[auth]` section itself); None if unusable."""
    if not section or not {"redirect_uri", "cookie_secret"} <= section.keys():
        return None
    providers: list[str | None] = [None] if "client_id" in section else []
    providers += [k for k, v in section.items() if isinstance(v, dict) and "client_id" in v]
    return providers or None


def auth_mode() -> Mode:
    """How users authenticate: OIDC first, then hashed passwords, else not at all."""
    if _oidc_providers(_section("auth")):
        return "oidc"
    if _users():
        return "password"
    return "none"


def _roles(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def roles_by_user() -> dict[str, tuple[str, ...]] | None:
    """User → roles, for `core.registry.promotion.require_approver`; None without authentication."""
    mode = auth_mode()
    if mode == "oidc":
        return {u: _roles(r) for u, r in (_section(ROLES_SECTION) or {}).items()}
    if mode == "password":
        users = _users()
        return {u: _roles(e.get("roles")) for u, e in users.items() if isinstance(e, dict)}
    return None


def current_user() -> User:
    """The user of this session (see the module docstring for the three modes)."""
    mode = auth_mode()
    if mode == "none":
        return User(default_actor(), ALL_ROLES, authenticated=False, mode="none")
    roles = roles_by_user() or {}
    if mode == "oidc":
        info = st.user.to_dict()
        name = str(info.get("email") or info.get("name") or info.get("sub") or "")
        if not info.get("is_logged_in") or not name:
            return User("", mode="oidc")
        return User(name, roles.get(name, ()), authenticated=True, mode="oidc")
    name = st.session_state.get(SESSION_KEY)
    if name not in roles:  # nobody signed in, or the user was removed from the secrets
        return User("", mode="password")
    return User(name, roles[name], authenticated=True, mode="password")


def why_not(user: User, action: str) -> str:
    """Why `user` may not do `action`, as a control's help text ("" when they may)."""
    if user.may(action):
        return ""
    needed = access.role_needed(action)
    if not user.name:
        return f"Sign in (sidebar) as a user with the {needed} role to {action}."
    return f"Needs the {needed} role ({user.name} holds: {', '.join(user.roles) or 'none'})."


def why_not_approver(user: User) -> str:
    """One line on why `user` may not promote (empty when they may)."""
    if user.can_approve:
        return ""
    if not user.name:
        return f"Sign in (sidebar) as a user with the '{APPROVER_ROLE}' role to promote models."
    return f"{user.name} may not promote models: the '{APPROVER_ROLE}' role is required."


# --- sidebar -----------------------------------------------------------------------------------


def _password_login() -> None:
    """Form callback: check the typed credentials against `[workbench_users]`."""
    username = st.session_state.get("login_username", "").strip()
    password = st.session_state.get("login_password", "")
    st.session_state["login_password"] = ""
    entry = _users().get(username)
    stored = entry.get("password_hash") if isinstance(entry, dict) else None
    if stored and verify_password(password, stored):
        st.session_state[SESSION_KEY] = username
        st.session_state.pop("login_error", None)
        log.info("%s signed in", username)
    else:
        st.session_state["login_error"] = "Unknown user or wrong password."


def _password_logout() -> None:
    st.session_state.pop(SESSION_KEY, None)


def _oidc_login(provider: str | None) -> None:
    if importlib.util.find_spec("authlib") is None:
        st.error('OIDC login needs Authlib: `pip install "streamlit[auth]"`.')
        return
    if provider:
        st.login(provider)
    else:
        st.login()


def _signed_in_as(user: User) -> None:
    roles = ", ".join(user.roles) or "no roles"
    st.caption(f"Signed in as **{user.name}** ({roles})")


def sign_in_sidebar() -> User:
    """Show who is signed in, with log-in / log-out controls, in the sidebar; return the user."""
    mode, user = auth_mode(), current_user()
    with st.sidebar:
        st.caption("User")
        if mode == "none":
            st.caption(f"**{user.name}** (OS user: no authentication configured)")
        elif user.authenticated:
            _signed_in_as(user)
            if mode == "oidc":
                st.button("Log out", key="logout", on_click=st.logout)
            else:
                st.button("Log out", key="logout", on_click=_password_logout)
        elif mode == "oidc":
            for provider in _oidc_providers(_section("auth")) or []:
                label = f"Log in with {provider}" if provider else "Log in"
                if st.button(label, key=f"login_{provider or 'default'}"):
                    _oidc_login(provider)
        else:
            with st.form("login", enter_to_submit=True):
                st.text_input("Username", key="login_username")
                st.text_input("Password", type="password", key="login_password")
                st.form_submit_button("Sign in", on_click=_password_login)
            if error := st.session_state.get("login_error"):
                st.error(error)
    return user


def main() -> None:  # pragma: no cover - interactive prompt
    """Prompt for a password twice and print its hash for `[workbench_users]`."""
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        raise SystemExit("the passwords differ")
    print(hash_password(password))


if __name__ == "__main__":  # pragma: no cover - `python -m app.auth`
    main()
