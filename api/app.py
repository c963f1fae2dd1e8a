"""The prediction API: `create_app(settings)` wires routes, guards, errors and lifespan here."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    RapidocRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.batching import MicroBatcher
from api.metrics import Metrics
from api.model_store import LoadedModel, ModelStore
from api.schemas import (
    ErrorResponse,
    FeedbackRequest,
    InputField,
    ModelInfo,
    ModelRef,
    PredictRequest,
    PredictResponse,
    ReadyStatus,
    predict_request_schema,
)
from api.settings import ServeSettings
from api.validation import Batch

log = logging.getLogger(__name__)
INLINE_ROWS = 32
"""Requests up to this many rows on the array path are scored on the event loop."""


def _state(request: Request | ASGIConnection):
    return request.app.state


def api_key_required(app: ASGIApp) -> ASGIApp:
    """Route middleware: `X-API-Key` must be one of the configured keys (when any are).

    A middleware rather than a guard: Litestar copies the route handler for every guard call
    (~13 us, 3% of a one-record /predict). It runs before the body is read, as a guard would;
    the exceptions become the same 401 / 403 JSON answers.
    """

    async def check(scope: Scope, receive: Receive, send: Send) -> None:
        keys = scope["app"].state.settings.api_keys
        if keys:
            key = next((v for k, v in scope["headers"] if k == b"x-api-key"), None)
            if not key:
                raise NotAuthorizedException("missing X-API-Key header")
            if key.decode("latin-1") not in keys:
                raise PermissionDeniedException("X-API-Key is not valid")
        await app(scope, receive, send)

    return check


async def admin_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Admin endpoints need `X-API-Key` equal to the admin key."""
    admin = _state(connection).settings.admin_key
    key = connection.headers.get("x-api-key")
    if not key:
        raise NotAuthorizedException("missing X-API-Key header (admin key)")
    if not admin or key != admin:
        raise PermissionDeniedException("admin key required")


_API_KEY = [{"ApiKey": []}]  # OpenAPI security of the keyed routes (scheme in `create_app`)
_ERRORS = {
    401: "X-API-Key header missing",
    403: "X-API-Key not valid (for /admin: not the admin key)",
    409: "the prediction log is disabled",
    413: "request body or batch larger than the configured limit",
    422: "a record does not match the served model's inputs (GET /model): a field missing, "
    "mistyped or unknown (`serving.unknown_fields: reject`); `extra` names the record index and "
    "field",
    429: "rate limit exceeded (when `rate_limit_per_minute` is set)",
    503: "no model loaded yet",
}


def _errors(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for a route's error answers, each with the `ErrorResponse` body."""
    return {
        code: ResponseSpec(ErrorResponse, description=_ERRORS[code], generate_examples=False)
        for code in codes
    }


def _pick(state, settings: ServeSettings) -> tuple[LoadedModel, str]:
    champion = state.store.champion
    if champion is None:
        raise HTTPException(status_code=503, detail="no model loaded yet")
    challenger = state.store.challenger
    if challenger is not None and random.random() < settings.canary_fraction:
        return challenger, "challenger"
    return champion, "champion"


@post(
    "/predict",
    middleware=[api_key_required],
    status_code=200,
    security=_API_KEY,
    responses=_errors(401, 403, 413, 422, 429, 503),
)
async def predict(request: Request, data: PredictRequest) -> PredictResponse:
    """Score records (or columns + rows) with the champion, or the challenger for the canary."""
    state, settings = _state(request), _state(request).settings
    model, variant = _pick(state, settings)  # this request keeps this model to the end
    batch = Batch.of(data, model.fields, settings.max_batch, settings.unknown_fields)
    if batch.ignored:
        _note_ignored(state, batch.ignored)
    started = time.perf_counter()
    preds, proba = await _score(state, model, batch)
    elapsed = time.perf_counter() - started
    request_id = os.urandom(16).hex()  # 32 hex digits, like uuid4().hex at a fifth of the cost
    state.metrics.latency.observe(elapsed)
    state.metrics.predictions.labels(model.version, variant).inc(len(preds))
    _log(state, request_id, model, variant, batch, preds, proba, elapsed)
    shadowed = variant == "champion" and settings.shadow_fraction  # a canary is the challenger
    if shadowed and random.random() < settings.shadow_fraction:
        _shadow(state, request_id, batch)
    return PredictResponse(
        preds,
        ModelRef(model.name, model.version, model.alias),
        request_id,
        variant,
        proba,
        list(batch.ignored) if batch.ignored else msgspec.UNSET,
    )


IGNORED_NAMES_LOGGED = 100
"""Distinct ignored field names logged per process (request data: a bounded set)."""


def _note_ignored(state, names: tuple[str, ...]) -> None:
    """Log each field name ignored under `unknown_fields: ignore` the first time it is seen."""
    seen: set[str] = state.ignored_fields
    new = [n for n in names if n not in seen][: IGNORED_NAMES_LOGGED - len(seen)]
    if new:
        seen.update(new)
        log.warning(
            "ignoring request fields the served model does not take: %s",
            ", ".join(repr(n[:80]) for n in new),
        )


async def _score(state, model: LoadedModel, batch: Batch) -> tuple[list, list | None]:
    """Score a batch: small ones on the event loop, larger ones in a worker thread.

    Small batches on the array path are coalesced with concurrent ones (`MicroBatcher`): a
    thread hop would cost more than scoring them.
    """
    if model.compiled is not None and len(batch) <= INLINE_ROWS:
        return await state.batcher.predict(model, batch)
    return await anyio.to_thread.run_sync(batch.predict, model)


def _log(state, request_id, model, variant, batch: Batch, preds, proba, elapsed) -> None:
    if state.log is None:
        return
    from core.predictions import PredictionRecord

    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    ms = 1000 * elapsed / max(len(batch), 1)
    state.log.append(
        [
            PredictionRecord(
                request_id,
                now,
                model.name,
                model.version,
                variant,
                rec,
                pred,
                None if proba is None else proba[i],
                ms,
            )
            for i, (rec, pred) in enumerate(zip(batch.records(), preds, strict=True))
        ]
    )


def _shadow(state, request_id: str, batch: Batch) -> None:
    """Score with the challenger in the background; logged as `shadow`, never returned."""
    challenger = state.store.challenger
    if challenger is None:
        return

    async def run() -> None:
        try:
            started = time.perf_counter()
            preds, proba = await anyio.to_thread.run_sync(batch.predict, challenger)
            elapsed = time.perf_counter() - started
            _log(state, request_id, challenger, "shadow", batch, preds, proba, elapsed)
            state.metrics.predictions.labels(challenger.version, "shadow").inc(len(preds))
        except Exception as exc:  # noqa: BLE001 - shadow must never affect serving
            state.metrics.errors.labels("shadow").inc()
            log.warning("shadow scoring failed: %s", exc)

    task = asyncio.get_running_loop().create_task(run())
    state.background.add(task)
    task.add_done_callback(state.background.discard)


@post(
    "/feedback",
    middleware=[api_key_required],
    status_code=202,
    security=_API_KEY,
    responses=_errors(401, 403, 409, 413, 429),
)
async def feedback(request: Request, data: FeedbackRequest) -> dict:
    """Record the actual outcome of an earlier prediction by its request id."""
    state = _state(request)
    if state.log is None:
        raise HTTPException(status_code=409, detail="the prediction log is disabled")
    state.log.record_feedback(data.request_id, data.actual)
    return {"request_id": data.request_id, "recorded": True}


@get("/health", media_type=MediaType.JSON)
async def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get(
    "/ready",
    media_type=MediaType.JSON,
    responses={
        503: ResponseSpec(ReadyStatus, description="no model loaded yet", generate_examples=False)
    },
)
async def ready(request: Request) -> Response[ReadyStatus]:
    """503 until a model is loaded; the body reports a degraded registry."""
    store = _state(request).store
    body = {
        "ready": store.champion is not None,
        "degraded": store.degraded,
        "model": None if store.champion is None else store.champion.version,
        "challenger": None if store.challenger is None else store.challenger.version,
    }
    return Response(body, status_code=200 if store.champion is not None else 503)


@get("/model", responses=_errors(429, 503))
async def model_info(request: Request) -> ModelInfo:
    """Name, version, alias, load time and input fields of the served champion."""
    store = _state(request).store
    m = store.champion
    if m is None:
        raise HTTPException(status_code=503, detail="no model loaded yet")
    return ModelInfo(
        m.name,
        m.version,
        m.alias,
        m.loaded_at,
        [InputField(n, t, nullable=True) for n, t in m.fields],
        None if store.challenger is None else store.challenger.version,
        m.path,
    )


@post(
    "/admin/reload",
    guards=[admin_guard],
    status_code=200,
    security=_API_KEY,
    responses=_errors(401, 403, 429),
)
async def admin_reload(request: Request) -> dict:
    """Check the registry aliases now and swap in any new version."""
    state = _state(request)
    changed = await anyio.to_thread.run_sync(state.store.check)
    _export_model(state)
    if changed:
        _settle_heap(state, changed=True)
    return {
        "changed": changed,
        "degraded": state.store.degraded,
        "version": None if state.store.champion is None else state.store.champion.version,
    }


@get("/metrics", media_type="text/plain; version=0.0.4")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(_state(request).metrics.render(), media_type="text/plain; version=0.0.4")


def _export_model(state) -> None:
    m, store = state.metrics, state.store
    m.model.clear()
    for loaded in (store.champion, store.challenger):
        if loaded is not None:
            m.model.labels(loaded.name, loaded.version, loaded.alias).set(1)
    if store.last_reload:
        m.last_reload.set(store.last_reload)


def _settle_heap(state, changed: bool) -> None:
    """Move everything alive now (the libraries, the loaded models) out of the GC's full passes.

    A full collection walks every tracked object: ~350k once MLflow, scikit-learn and a model
    are loaded, ~160 ms holding the GIL, which was the p99 of /predict under load. Frozen
    objects are never scanned; request garbage is still collected by the young generations.
    After a swap the old model is reclaimed by one full collection first (one pause per swap).
    """
    if not state.settings.freeze_heap:
        return
    if changed:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


async def _poll(app: Litestar) -> None:
    state = app.state
    while True:
        await anyio.sleep(state.settings.poll_seconds)
        changed = await anyio.to_thread.run_sync(state.store.check)
        _export_model(state)
        if changed:
            _settle_heap(state, changed=True)


@contextlib.asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    state = app.state
    await anyio.to_thread.run_sync(state.store.check)
    _export_model(state)
    _settle_heap(state, changed=False)
    if state.log is not None:
        state.log.start()
    poller = asyncio.get_running_loop().create_task(_poll(app))
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        if state.background:
            await asyncio.gather(*state.background, return_exceptions=True)
        if state.log is not None:
            await anyio.to_thread.run_sync(state.log.close)  # SIGTERM loses nothing


_ERROR_TYPES = {
    400: "bad_request",
    401: "auth",
    403: "auth",
    404: "not_found",
    405: "bad_request",
    409: "conflict",
    413: "too_large",
    422: "validation",
    429: "rate_limited",
    503: "not_ready",
}
"""`workbench_errors{type}` of an error answer; any other 5xx is `server`."""


async def _count(message: Message, scope: Scope) -> None:
    if message["type"] == "http.response.start":
        handler = scope.get("route_handler")
        route = next(iter(handler.paths)) if handler is not None else "unmatched"
        status = message["status"]
        metrics = scope["app"].state.metrics
        metrics.requests.labels(route, str(status)).inc()
        if status >= 400:
            kind = _ERROR_TYPES.get(status, "server" if status >= 500 else "client")
            metrics.errors.labels(kind).inc()


def _client_id(request: Request) -> str:
    """Rate-limit identity: the API key when one is sent, else the client address."""
    key = request.headers.get("x-api-key")
    return f"key:{key}" if key else f"addr:{request.client.host if request.client else '-'}"


def _rate_limit(settings: ServeSettings) -> list:
    if not settings.rate_limit_per_minute:
        return []
    config = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        exclude=["/health", "/ready", "/metrics", "/schema"],
        identifier_for_request=_client_id,
    )
    return [config.middleware]


def _metrics(settings: ServeSettings) -> Metrics:
    """The app's metrics, plus the workspace's latest drift and performance check."""
    metrics = Metrics()
    if settings.workspace is not None:
        from core.monitoring.prometheus import MonitoringCollector
        from core.workspace import Workspace

        metrics.registry.register(MonitoringCollector(Workspace(settings.workspace)))
    return metrics


def served_openapi(request: Request, openapi_schema: dict) -> dict:
    """The OpenAPI document with /predict's body typed from the champion being served.

    Litestar builds the document once, from the route handlers, before any model is loaded; the
    served inputs are known only after a load and change at each hot swap. So the document is
    completed where it is served: its `PredictRequest` component is replaced by
    `predict_request_schema` of the current champion's inputs, the batch limit and the
    `unknown_fields` policy (free-form records while no model is loaded). It is kept per
    champion version: a swap shows at the next fetch, and a fetch costs a lookup.
    """
    state = request.app.state
    champion = state.store.champion
    key = None if champion is None else (champion.name, champion.version)
    if state.openapi is not None and state.openapi[0] == key:
        return state.openapi[1]
    settings = state.settings
    body = predict_request_schema(
        None if champion is None else champion.fields, settings.max_batch, settings.unknown_fields
    )
    components = openapi_schema["components"]
    schemas = components["schemas"] | {"PredictRequest": body}
    doc = openapi_schema | {"components": components | {"schemas": schemas}}
    state.openapi = (key, doc)
    return doc


class _ServedJson(JsonRenderPlugin):
    def render(self, request: Request, openapi_schema: dict) -> bytes:
        return super().render(request, served_openapi(request, openapi_schema))


class _ServedYaml(YamlRenderPlugin):
    def render(self, request: Request, openapi_schema: dict) -> bytes:
        return super().render(request, served_openapi(request, openapi_schema))


def _openapi_plugins() -> list:
    """Litestar's default documentation sites (ReDoc at /schema), the files typed per model.

    The sites load `/schema/openapi.json`, so they show the served model's inputs too.
    """
    return [
        RedocRenderPlugin(),
        _ServedJson(),
        _ServedYaml(),
        SwaggerRenderPlugin(),
        StoplightRenderPlugin(),
        RapidocRenderPlugin(),
    ]


def create_app(settings: ServeSettings) -> Litestar:
    """Build the API; nothing is read from the environment here."""
    from core.predictions import PredictionLog

    store = ModelStore(
        settings.model_name,
        settings.tracking_uri,
        want_challenger=bool(settings.canary_fraction or settings.shadow_fraction),
    )
    log_ = PredictionLog(dest) if (dest := settings.prediction_log_destination) else None
    return Litestar(
        route_handlers=[predict, feedback, health, ready, model_info, admin_reload, metrics],
        lifespan=[_lifespan],
        before_send=[_count],
        middleware=_rate_limit(settings),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Workbench prediction API",
            version="1.0.0",
            path="/schema",
            render_plugins=_openapi_plugins(),
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(
                        type="apiKey",
                        name="X-API-Key",
                        security_scheme_in="header",
                        description="an API key; /admin routes need the admin key",
                    )
                }
            ),
        ),
        state=State(
            {
                "settings": settings,
                "store": store,
                "metrics": _metrics(settings),
                "log": log_,
                "background": set(),
                "batcher": MicroBatcher(),
                "ignored_fields": set(),
                "openapi": None,  # (champion name + version, document): `served_openapi`
            }
        ),
    )
