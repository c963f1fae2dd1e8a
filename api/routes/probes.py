"""Probes and model info: liveness, readiness, the served model, and its OpenAPI document."""

from __future__ import annotations

from litestar import MediaType, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    RapidocRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)

from api.errors import ERROR_KINDS
from api.schemas import (
    InputField,
    ModelInfo,
    ReadyStatus,
    error_responses,
    invocations_request_schema,
    predict_request_schema,
)


@get("/health", media_type=MediaType.JSON)
async def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get(
    "/ready",
    media_type=MediaType.JSON,
    responses={
        503: ResponseSpec(
            ReadyStatus, description=ERROR_KINDS[503].description, generate_examples=False
        )
    },
)
async def ready(request: Request) -> Response[ReadyStatus]:
    """503 until a model is loaded; the body reports a degraded registry."""
    store = request.app.state.store
    body = {
        "ready": store.champion is not None,
        "degraded": store.degraded,
        "model": None if store.champion is None else store.champion.version,
        "challenger": None if store.challenger is None else store.challenger.version,
    }
    return Response(body, status_code=200 if store.champion is not None else 503)


@get("/model", responses=error_responses(429, 503))
async def model_info(request: Request) -> ModelInfo:
    """Name, version, alias, load time, input fields and backend of the served champion."""
    service = request.app.state.service
    m, challenger = service.champion(), service.store.challenger
    return ModelInfo(
        m.name,
        m.version,
        m.alias,
        m.loaded_at,
        [InputField(n, t, nullable=True) for n, t in m.fields],
        None if challenger is None else challenger.version,
        m.path,
        m.backend,
        m.backend_reason,
    )


def served_openapi(request: Request, openapi_schema: dict) -> dict:
    """The OpenAPI document with /predict's and /invocations' bodies typed from the champion.

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
    typed = (None if champion is None else champion.fields, settings.max_batch)
    body = predict_request_schema(*typed, settings.unknown_fields)
    invocations = invocations_request_schema(*typed, settings.unknown_fields)
    components = openapi_schema["components"]
    schemas = components["schemas"] | {"PredictRequest": body, "InvocationsRequest": invocations}
    paths = dict(openapi_schema["paths"])
    if "/invocations" in paths:  # a raw body (JSON or CSV): documented here, typed per model
        post = paths["/invocations"]["post"] | {
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/InvocationsRequest"}
                    }
                },
            }
        }
        paths["/invocations"] = paths["/invocations"] | {"post": post}
    doc = openapi_schema | {"components": components | {"schemas": schemas}, "paths": paths}
    state.openapi = (key, doc)
    return doc


class _ServedJson(JsonRenderPlugin):
    def render(self, request: Request, openapi_schema: dict) -> bytes:
        return super().render(request, served_openapi(request, openapi_schema))


class _ServedYaml(YamlRenderPlugin):
    def render(self, request: Request, openapi_schema: dict) -> bytes:
        return super().render(request, served_openapi(request, openapi_schema))


def openapi_plugins() -> list:
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
