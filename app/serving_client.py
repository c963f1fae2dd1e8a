"""A small HTTP client of the prediction API, for the UI (no Streamlit calls in here).

It raises `ApiUnreachable` when nothing answers and `ApiRejected` (with the API's own message,
which names the offending field) on a 4xx/5xx, and parses `/metrics` into a
`core.serving_stats.MetricsSnapshot`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from core.errors import WorkbenchError
from core.records import is_missing
from core.serving_stats import MetricsSnapshot
from core.workspace import Workspace

DEFAULT_URL = "http://127.0.0.1:8000"
_NUMERIC = {"long", "integer", "double", "float"}
_INTEGRAL = {"long", "integer"}
_MISSING = {"", "none", "null", "nan"}


class ApiUnreachable(WorkbenchError):
    """Nothing answers at the API's address."""


class ApiRejected(WorkbenchError):
    """The API answered with an error status; the message is the API's own."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.detail, self.field = status, message, field


@dataclass(frozen=True)
class ApiTarget:
    """Where the API is and the keys to use."""

    url: str
    api_key: str | None = None
    admin_key: str | None = None


def resolve_target(ws: Workspace) -> ApiTarget:
    """The API of a workspace: `serving.url`, else `WORKBENCH_API_URL`, else port 8000 locally.

    The key is the first of `serving.api_keys` and `WORKBENCH_API_KEYS`; the admin key is
    `WORKBENCH_ADMIN_KEY`, else `serving.admin_key` (as the API reads them).
    """
    serving = dict(ws.config.serving or {})
    url = serving.get("url") or os.environ.get("WORKBENCH_API_URL") or DEFAULT_URL
    keys = [str(k) for k in serving.get("api_keys") or []]
    keys += [k.strip() for k in os.environ.get("WORKBENCH_API_KEYS", "").split(",") if k.strip()]
    admin = os.environ.get("WORKBENCH_ADMIN_KEY") or serving.get("admin_key")
    return ApiTarget(str(url).rstrip("/"), keys[0] if keys else None, admin or None)


def _error(resp: httpx.Response) -> ApiRejected:
    try:
        body = resp.json()
    except ValueError:
        return ApiRejected(resp.status_code, resp.text.strip()[:300] or resp.reason_phrase)
    if not isinstance(body, dict):
        return ApiRejected(resp.status_code, str(body)[:300])
    extra = body.get("extra")
    field = extra.get("field") if isinstance(extra, dict) else None
    detail = str(body.get("detail") or resp.reason_phrase)
    if isinstance(extra, list) and extra:  # request-body validation: a list of problems
        detail += ": " + "; ".join(str(e.get("message", e)) for e in extra if isinstance(e, dict))
    return ApiRejected(resp.status_code, detail, field)


class ServingClient:
    """Calls of the prediction API with the configured keys.

    Args:
        target: URL and keys.
        timeout: Seconds to wait for an answer (connecting fails fast).
        transport: An httpx transport (tests may pass one; default: the network).
    """

    def __init__(self, target: ApiTarget, timeout: float = 10.0, transport=None) -> None:
        self.target = target
        self._http = httpx.Client(
            base_url=target.url,
            timeout=httpx.Timeout(timeout, connect=2.0),
            transport=transport,
        )

    def _call(self, method: str, path: str, ok=(200,), **kwargs) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnreachable(
                f"the prediction API at {self.target.url} does not answer: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if resp.status_code not in ok:
            raise _error(resp)
        return resp

    def health(self) -> dict:
        """`GET /health`: the process answers."""
        return self._call("GET", "/health").json()

    def ready(self) -> dict:
        """`GET /ready`: `ready`, `degraded`, `model`, `challenger` (503 = not ready, no error)."""
        return self._call("GET", "/ready", ok=(200, 503)).json()

    def model(self) -> dict | None:
        """`GET /model`: name, version, alias, loaded_at, inputs; None while no model is loaded."""
        resp = self._call("GET", "/model", ok=(200, 503))
        return resp.json() if resp.status_code == 200 else None

    def metrics(self) -> MetricsSnapshot:
        """`GET /metrics`, parsed."""
        return parse_metrics(self._call("GET", "/metrics").text, time.time())

    def predict(self, records: list[dict]) -> dict:
        """`POST /predict` with the API key; `ApiRejected` carries the API's message."""
        headers = {"X-API-Key": self.target.api_key} if self.target.api_key else {}
        return self._call("POST", "/predict", json={"records": records}, headers=headers).json()

    def reload(self) -> dict:
        """`POST /admin/reload` with the admin key: check the aliases now."""
        if not self.target.admin_key:
            raise ApiRejected(401, "no admin key: set WORKBENCH_ADMIN_KEY or serving.admin_key")
        headers = {"X-API-Key": self.target.admin_key}
        return self._call("POST", "/admin/reload", headers=headers).json()


def parse_metrics(text: str, taken_at: float) -> MetricsSnapshot:
    """The workbench metrics of a Prometheus text exposition (other families are ignored)."""
    requests, predictions, errors, models = {}, {}, {}, []
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    last_reload = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name, labels, value = s.name, s.labels, s.value
            if name == "workbench_requests_total":
                requests[(labels["route"], labels["status"])] = value
            elif name == "workbench_predictions_total":
                predictions[(labels["version"], labels["variant"])] = value
            elif name == "workbench_errors_total":
                errors[labels["type"]] = value
            elif name == "workbench_predict_latency_seconds_bucket":
                buckets.append((float(labels["le"]), value))
            elif name == "workbench_predict_latency_seconds_sum":
                total = value
            elif name == "workbench_predict_latency_seconds_count":
                count = value
            elif name == "workbench_model_info" and value:
                models.append({k: labels.get(k) for k in ("name", "version", "alias")})
            elif name == "workbench_last_reload_timestamp_seconds" and value:
                last_reload = value
    return MetricsSnapshot(
        taken_at,
        requests,
        predictions,
        errors,
        tuple(sorted(buckets)),
        total,
        count,
        tuple(models),
        last_reload,
    )


def form_text(value: object) -> str:
    """A logged or stored value as the text of a form field (missing = empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.12g}"
    return str(value)


def field_value(text: str, kind: str) -> object:
    """A form field's text as the JSON value the API expects for an input of type `kind`.

    Empty text (or `nan`/`null`) is a missing value, which the model imputes. Text that is not
    of the type is sent as it is, so the API answers which field is wrong.
    """
    text = text.strip()
    if text.lower() in _MISSING:
        return None
    if kind in _NUMERIC:
        for cast in (int, float):
            try:
                number = cast(text)
            except ValueError:
                continue
            return number if math.isfinite(number) else text
        return text
    if kind == "boolean" and text.lower() in {"true", "false"}:
        return text.lower() == "true"
    return text


# --- the "Try a prediction" form: stored values -> widget values -> raw JSON record -------------


def form_default(value: object, kind: str) -> object:
    """A stored raw value as the initial value of the form widget of an input of type `kind`.

    The value comes from a row of the processed table; the widget value is a naive UTC
    `datetime`, an int, a float, a str, a bool, or None (missing, or not of the type).
    """
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if is_missing(value):
        return None
    if kind == "datetime":
        return _utc_naive(value)
    if kind in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value) if kind in _INTEGRAL and float(value).is_integer() else float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    return str(value)


def _utc_naive(value: object) -> datetime | None:
    """A timestamp (aware: converted to UTC; naive: taken as UTC) as a naive UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def record_value(value: object, kind: str) -> object:
    """A widget's value as the JSON value `POST /predict` takes for an input of type `kind`.

    None (a cleared field) is a missing value, which the model imputes. A datetime (the form
    shows UTC) is an ISO-8601 string with its zone; a text for a non-text input goes through
    `field_value`, so a value of the wrong type is sent as typed and the API names the field.
    """
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime | date):
        return _utc_naive(value).replace(tzinfo=UTC).isoformat()
    if isinstance(value, str):
        if kind == "string":
            return value.strip() or None
        return field_value(value, kind)
    if kind in _INTEGRAL and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
