"""Prometheus: the /metrics exposition and the hook counting every answer."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.types import Message, Scope

from api.errors import error_label

MEDIA_TYPE = "text/plain; version=0.0.4"


@get("/metrics", media_type=MEDIA_TYPE)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(request.app.state.metrics.render(), media_type=MEDIA_TYPE)


async def count_response(message: Message, scope: Scope) -> None:
    """`before_send` hook: count each answer by route and status, and errors by kind."""
    if message["type"] == "http.response.start":
        handler = scope.get("route_handler")
        route = next(iter(handler.paths)) if handler is not None else "unmatched"
        status = message["status"]
        counters = scope["app"].state.metrics
        counters.requests.labels(route, str(status)).inc()
        if status >= 400:
            counters.errors.labels(error_label(status)).inc()
