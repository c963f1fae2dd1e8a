"""`POST /admin/alerts`: Alertmanager's webhook receiver (docker/alertmanager/alertmanager.yml).

Each firing alert is raised as a workbench incident (`core.alerts.raise_alert`: opened once,
sent to the workspace's `alerts:` sinks, reminded while it fires), each resolved alert resolves
it. The incident's key is the alert's identity: `prometheus.<alertname>` and its other labels
(severity aside), so two replicas' `WorkbenchApiDown` are two incidents and a repeated
notification of the same alert only counts one more occurrence.

Alertmanager cannot send an `X-API-Key` header: the admin key also comes as
`Authorization: Bearer <key>` (its webhook `http_config.authorization`).
"""

from __future__ import annotations

import anyio
import msgspec
from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.exceptions import InternalServerException
from litestar.handlers import BaseRouteHandler

from api.guards import API_KEY, authorize
from api.schemas import error_responses
from core.errors import one_line
from core.workspace import Workspace

SEVERITIES = {"critical": "error", "error": "error", "warning": "warning", "info": "info"}
"""Prometheus rule severities → the workbench's (an unknown one counts as error)."""


class AlertmanagerAlert(msgspec.Struct, rename="camel"):
    """One alert of Alertmanager's webhook payload (version 4)."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: str = ""
    generator_url: str = msgspec.field(default="", name="generatorURL")


class AlertmanagerPayload(msgspec.Struct, rename="camel"):
    """Alertmanager's webhook body; fields this receiver does not use are accepted and ignored."""

    alerts: list[AlertmanagerAlert]
    receiver: str = ""
    status: str = ""


class AlertOutcome(msgspec.Struct):
    """What one alert did: the incident it opened, updated or resolved (None: none open)."""

    key: str
    status: str
    incident: str | None
    notice: str | None


class AlertsResponse(msgspec.Struct):
    """One outcome per alert of the payload, in order."""

    alerts: list[AlertOutcome]


async def alerts_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The admin key, as `X-API-Key` or as `Authorization: Bearer` (all Alertmanager sends)."""
    key = connection.headers.get("x-api-key")
    bearer = connection.headers.get("authorization", "")
    if not key and bearer[:7].lower() == "bearer ":
        key = bearer[7:].strip()
    connection.state.client = authorize(connection.app.state, key, "admin")


def alert_key(labels: dict[str, str]) -> str:
    """`prometheus.<alertname>` plus the identifying labels, e.g. `…:instance=api-1:8000`."""
    rest = ",".join(
        f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity")
    )
    name = f"prometheus.{labels.get('alertname', 'unnamed')}"
    return f"{name}:{rest}" if rest else name


def apply_alert(ws: Workspace, alert: AlertmanagerAlert, receiver: str) -> AlertOutcome:
    """Raise (firing) or resolve (resolved) the alert's incident in the workspace."""
    from core.alerts import raise_alert, resolve_alert

    key = alert_key(alert.labels)
    summary = alert.annotations.get("summary") or alert.labels.get("alertname", key)
    if alert.status == "resolved":
        event = resolve_alert(ws, key, f"resolved in Prometheus: {summary}", source="alertmanager")
        return AlertOutcome(key, "resolved", event and event["incident"], event and "resolved")
    event = raise_alert(
        ws,
        f"prometheus.{alert.labels.get('alertname', 'unnamed')}",
        summary,
        SEVERITIES.get(alert.labels.get("severity", ""), "error"),
        key=key,
        source="alertmanager",
        receiver=receiver,
        labels=alert.labels,
        description=alert.annotations.get("description", ""),
        starts_at=alert.starts_at,
        generator_url=alert.generator_url,
    )
    return AlertOutcome(key, "firing", event.get("incident"), event.get("notice"))


def _apply_all(root, payload: AlertmanagerPayload) -> list[AlertOutcome]:
    ws = Workspace.open(root)
    return [apply_alert(ws, alert, payload.receiver) for alert in payload.alerts]


@post(
    "/admin/alerts",
    guards=[alerts_guard],
    status_code=200,
    security=API_KEY,
    responses=error_responses(400, 401, 403, 429),
)
async def admin_alerts(request: Request, data: AlertmanagerPayload) -> AlertsResponse:
    """Alertmanager's webhook: firing alerts open workbench incidents, resolved ones close them."""
    root = request.app.state.settings.workspace
    if root is None:
        raise InternalServerException("this API serves no workspace: alerts cannot be recorded")
    try:
        outcomes = await anyio.to_thread.run_sync(_apply_all, root, data)
    except OSError as exc:  # e.g. a read-only workspace mount
        raise InternalServerException(
            f"alerts not recorded in the workspace's incidents: {one_line(exc)}"
        ) from exc
    return AlertsResponse(outcomes)
