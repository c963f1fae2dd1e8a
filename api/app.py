"""The prediction API: `create_app(settings)` wires routes, guards, errors and lifespan here.

Routes live in `api.routes` by concern, the prediction work in `api.service`, the key check and
rate limit in `api.guards`, error kinds and their one handler in `api.errors`, the model
loading, poller and heap tuning in `api.lifespan`.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components

from api.errors import ApiError, error_response
from api.guards import SECURITY_SCHEMES, rate_limit
from api.lifespan import lifespan
from api.metrics import Metrics
from api.model_store import ModelStore
from api.routes.admin import admin_reload
from api.routes.alerts import admin_alerts
from api.routes.invocations import invocations, ping, version
from api.routes.metrics import count_response, metrics
from api.routes.predict import feedback, predict
from api.routes.probes import health, model_info, openapi_plugins, ready
from api.service import PredictionService
from api.settings import ServeSettings


def create_app(settings: ServeSettings) -> Litestar:
    """Build the API; nothing is read from the environment here."""
    from core.predictions.writer import PredictionLog

    store = ModelStore(
        settings.model_name,
        settings.tracking_uri,
        want_challenger=bool(settings.canary_fraction or settings.shadow_fraction),
    )
    log = PredictionLog(dest) if (dest := settings.prediction_log_destination) else None
    counters = Metrics.of_workspace(settings.workspace)
    return Litestar(
        route_handlers=[
            predict,
            feedback,
            health,
            ready,
            model_info,
            admin_reload,
            admin_alerts,
            metrics,
            invocations,
            ping,
            version,
        ],
        exception_handlers={ApiError: error_response},
        lifespan=[lifespan],
        before_send=[count_response],
        middleware=rate_limit(settings),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Workbench prediction API",
            version="1.0.0",
            path="/schema",
            render_plugins=openapi_plugins(),
            components=Components(security_schemes=SECURITY_SCHEMES),
        ),
        state=State(
            {
                "settings": settings,
                "store": store,
                "metrics": counters,
                "log": log,
                "service": PredictionService(settings, store, counters, log),
                "openapi": None,  # (champion name + version, document): `served_openapi`
            }
        ),
    )
