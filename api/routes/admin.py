"""Admin routes: they need the admin key."""

from __future__ import annotations

from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from api.guards import API_KEY, authorize
from api.lifespan import refresh
from api.schemas import error_responses


async def admin_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Admin endpoints need the admin key or a stored key with role admin (`api.guards`)."""
    authorize(connection.app.state, connection.headers.get("x-api-key"), "admin")


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
