"""Who may call: the `X-API-Key` check of the keyed routes and the per-client rate limit.

Smoke-test traffic: a /predict request with `X-Workbench-Traffic: smoke` is scored by the
champion and logged as variant `smoke`, which drift, performance, lineage counts and the Serving
page leave out (`core.deploy.smoke` sends it). Only a key with role admin may mark a request so
(the legacy `serving.admin_key` / `WORKBENCH_ADMIN_KEY`, or a stored admin key; the deploy step
and the UI hold it): a mark takes rows out of monitoring, and a client that copied the header
would make its real traffic invisible to drift and performance checks without anyone noticing.
Such a caller gets 403 naming the header rather than having it ignored, since an ignored mark
would log the smoke test's rows as real traffic silently. An API whose /predict needs no key at
all trusts every caller alike and honours the header from anyone.
"""

from __future__ import annotations

import os

from litestar import Request
from litestar.datastructures import State
from litestar.openapi.spec import SecurityScheme
from litestar.types import ASGIApp, Receive, Scope, Send

from api.errors import BadRequest, MissingKey, WrongKey
from api.ratelimit import rate_limit_middleware
from api.settings import ServeSettings
from core.config.serving import ENV_ADMIN_KEY, ENV_API_KEYS
from core.serving.keys import KeyRing, store_path

SECURITY_SCHEMES = {
    "ApiKey": SecurityScheme(
        type="apiKey",
        name="X-API-Key",
        security_scheme_in="header",
        description="an API key (`workbench keys create`); /admin routes need role admin",
    )
}
"""The OpenAPI security schemes (`create_app`)."""
API_KEY = [{"ApiKey": []}]
"""OpenAPI `security` of a keyed route."""
TRAFFIC_HEADER = "X-Workbench-Traffic"
"""The request header marking smoke-test traffic (value `smoke`; admin keys only)."""
SMOKE = "smoke"
"""The variant smoke-test rows are logged and counted as."""


def keyring(state: State) -> KeyRing | None:
    """The app's view of the workspace's key store (made on first use; None without one)."""
    if "key_ring" not in state:  # not `state.keys`: State is a mapping, that is its method
        root = state.settings.workspace
        state["key_ring"] = None if root is None else KeyRing(store_path(root))
    return state["key_ring"]


def _legacy_client(key: str, env_name: str) -> str:
    """The client name of a key from `workbench.yaml` (`config`) or the environment (`env`)."""
    from_env = {k.strip() for k in os.environ.get(env_name, "").split(",")}
    return "env" if key in from_env else "config"


def authorize(state: State, key: str | None, role: str) -> str | None:
    """The client name of `key` when it may call a route of `role` (`predict` or `admin`).

    Accepted: a key of the store whose role allows it (`admin` keys may also predict), the
    legacy `serving.api_keys` / `WORKBENCH_API_KEYS` (predict) and `serving.admin_key` /
    `WORKBENCH_ADMIN_KEY` (admin; it may also predict, as client `admin`). /predict stays open
    (None) when no key is configured at all.

    Raises:
        MissingKey: no key, or a stored key that is revoked or expired (401).
        WrongKey: an unknown key, or a stored key without the role (403, naming the role).
    """
    settings = state.settings
    ring = keyring(state)
    legacy = settings.api_keys if role == "predict" else [settings.admin_key]
    unkeyed = role == "predict" and not legacy and not (ring is not None and ring.configured)
    if unkeyed:
        return None
    if not key:
        raise MissingKey("missing X-API-Key header" + (" (admin key)" if role == "admin" else ""))
    if key in legacy:
        return _legacy_client(key, ENV_API_KEYS if role == "predict" else ENV_ADMIN_KEY)
    if role == "predict" and settings.admin_key and key == settings.admin_key:
        return "admin"  # the legacy admin key may also predict, as stored admin keys may
    entry = None if ring is None else ring.lookup(key)
    if entry is None:
        raise WrongKey("X-API-Key is not valid" if role == "predict" else "admin key required")
    if (status := entry.status()) != "active":
        raise MissingKey(f"X-API-Key {entry.name!r} is {status}")
    if role == "admin" and entry.role != "admin":
        raise WrongKey(f"this route needs a key with role admin; {entry.name!r} has {entry.role}")
    ring.note_use(entry)
    return entry.name


def api_key_required(app: ASGIApp) -> ASGIApp:
    """Route middleware: `X-API-Key` must be a key with role predict (when any is configured).

    A middleware rather than a guard: Litestar copies the route handler for every guard call
    (~13 us, 3% of a one-record /predict). It runs before the body is read, as a guard would;
    the errors become the same 401 / 403 JSON answers. The client's name (never the key) is
    left in the request's state as `client`.
    """

    async def check(scope: Scope, receive: Receive, send: Send) -> None:
        key = mark = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value.decode("latin-1")
            elif name == b"x-workbench-traffic":
                mark = value.decode("latin-1")
        state = scope["app"].state
        client = authorize(state, key, "predict")
        scope.setdefault("state", {})["client"] = client
        if mark is not None:
            scope["state"]["traffic"] = traffic_mark(state, key, client, mark)
        await app(scope, receive, send)

    return check


def traffic_mark(state: State, key: str | None, client: str | None, value: str) -> str:
    """The traffic mark of an authorized request's `X-Workbench-Traffic` header: `smoke`.

    Raises:
        BadRequest: A value other than `smoke` (400, naming the header).
        WrongKey: The caller's key may predict but not mark smoke traffic (403, naming the
            header and the role it needs); see the module docstring for why.
    """
    if value.strip().lower() != SMOKE:
        raise BadRequest(
            f"{TRAFFIC_HEADER} takes only {SMOKE!r}, got {value[:40]!r}",
            {"field": TRAFFIC_HEADER},
        )
    if client is None or _is_admin(state, key):  # None: /predict needs no key on this API
        return SMOKE
    raise WrongKey(
        f"{TRAFFIC_HEADER}: smoke needs a key with role admin (it takes the rows out of "
        f"monitoring); {client!r} may only predict",
        {"field": TRAFFIC_HEADER},
    )


def _is_admin(state: State, key: str | None) -> bool:
    """Whether an authorized key has role admin (the legacy admin key or a stored one)."""
    if not key:
        return False
    if key == state.settings.admin_key:
        return True
    ring = keyring(state)
    entry = None if ring is None else ring.lookup(key)
    return entry is not None and entry.role == "admin"


def _client_id(request: Request) -> str:
    """Rate-limit identity: the API key when one is sent, else the client address."""
    key = request.headers.get("x-api-key")
    return f"key:{key}" if key else f"addr:{request.client.host if request.client else '-'}"


def rate_limit(settings: ServeSettings) -> list:
    """The app middleware limiting requests per client (none when no limit is set).

    Per process, or one budget shared in Redis (`serving.rate_limit_store`): `api.ratelimit`.
    """
    return rate_limit_middleware(settings, _client_id)
