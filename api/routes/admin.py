"""Admin routes: they need the admin key.

A reload is an audit event (`core.audit`, source `api`) in the served workspace's log, the
actor being the admin key's name (`config` or `env` for the legacy `serving.admin_key`). With
no workspace (settings built without one) or a log that cannot be written, the reload still
happens and the miss is logged.
"""

from __future__ import annotations

import logging

import anyio
from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from api.guards import API_KEY, authorize
from api.lifespan import refresh
from api.schemas import error_responses
from core import access
from core.audit import FAILED, OK, record_event
from core.errors import one_line
from core.workspace import Workspace

log = logging.getLogger("workbench.api")


async def admin_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Admin endpoints need the admin key or a stored key with role admin (`api.guards`).

    The key's name (never the key) is left in the request's state as `client`.
    """
    connection.state.client = authorize(
        connection.app.state, connection.headers.get("x-api-key"), "admin"
    )


def _audit(request: Request, outcome: str, reason: str = "", details: dict | None = None) -> None:
    """Record an admin action in the workspace's audit log; a failure to record is logged."""
    root = request.app.state.settings.workspace
    if root is None:
        return
    actor = request.state.get("client") or "admin"
    try:
        record_event(
            Workspace(root), actor, access.RELOAD_MODEL, "", outcome, reason, "api", details
        )
    except OSError as exc:
        log.error("admin reload by %s not audited: %s", actor, one_line(exc))


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
    try:
        changed = await refresh(state)
    except Exception as exc:
        await anyio.to_thread.run_sync(_audit, request, FAILED, one_line(exc))
        raise
    store = state.store
    version = None if store.champion is None else store.champion.version
    details = {"changed": changed, "version": version}
    await anyio.to_thread.run_sync(_audit, request, OK, "", details)
    return {"changed": changed, "degraded": store.degraded, "version": version}
