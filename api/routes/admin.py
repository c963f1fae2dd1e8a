"""Admin routes: they need the admin key."""

from __future__ import annotations

from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from api.errors import MissingKey, WrongKey
from api.guards import API_KEY
from api.lifespan import refresh
from api.schemas import error_responses


async def admin_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Admin endpoints need `X-API-Key` equal to the admin key."""
    admin = connection.app.state.settings.admin_key
    key = connection.headers.get("x-api-key")
    if not key:
        raise MissingKey("missing X-API-Key header (admin key)")
    if not admin or key != admin:
        raise WrongKey("admin key required")


@post(
    "/admin/reload",
    guards=[admin_guard],
    status_code=200,
    security=API_KEY,
    responses=error_responses(401, 403, 429),
)
async def admin_reload(request: Request) -> dict:
    """Check the registry aliases now and swap in any new version."""
    state = request.app.state
    changed = await refresh(state)
    store = state.store
    return {
        "changed": changed,
        "degraded": store.degraded,
        "version": None if store.champion is None else store.champion.version,
    }
