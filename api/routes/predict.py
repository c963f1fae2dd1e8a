"""Scoring and feedback: the keyed routes of clients."""

from __future__ import annotations

import msgspec
from litestar import Request, post

from api.explain import checked_explainer, explanations
from api.guards import API_KEY, api_key_required
from api.metrics import parse_clock
from api.schemas import (
    FeedbackRequest,
    ModelRef,
    PredictRequest,
    PredictResponse,
    error_responses,
)
from api.service import PredictionService


@post(
    "/predict",
    middleware=[api_key_required, parse_clock],
    status_code=200,
    security=API_KEY,
    responses=error_responses(400, 401, 403, 413, 422, 429, 503),
)
async def predict(request: Request, data: PredictRequest) -> PredictResponse:
    """Score records (or columns + rows) with the champion, or the challenger for the canary.

    `"explain": true` also answers `explanations` (`api.explain`), checked before scoring.
    `X-Workbench-Traffic: smoke` (admin keys): the champion answers, logged as variant `smoke`,
    which monitoring leaves out (`api.guards`).
    """
    service: PredictionService = request.app.state.service
    state = request.state
    service.metrics.parsed(state)  # `data` is decoded: the parse phase ends here
    client = state.get("client")  # the key's name (`api_key_required`)
    service.metrics.count_client(client)
    model, variant = service.pick(state.get("traffic"))  # kept to the end; smoke: champion
    batch = service.validate(data, model)
    explainer = checked_explainer(model, len(batch), data.explain)
    preds, proba, request_id = await service.predict(model, variant, batch, client)
    return PredictResponse(
        preds,
        ModelRef(model.name, model.version, model.alias),
        request_id,
        variant,
        proba,
        list(batch.ignored) if batch.ignored else msgspec.UNSET,
        msgspec.UNSET if explainer is None else await explanations(model, explainer, batch),
    )


@post(
    "/feedback",
    middleware=[api_key_required],
    status_code=202,
    security=API_KEY,
    responses=error_responses(401, 403, 409, 413, 429),
)
async def feedback(request: Request, data: FeedbackRequest) -> dict:
    """Record the actual outcome of an earlier prediction by its request id."""
    service: PredictionService = request.app.state.service
    service.metrics.count_client(request.state.get("client"))
    service.feedback(data.request_id, data.actual)
    return {"request_id": data.request_id, "recorded": True}
