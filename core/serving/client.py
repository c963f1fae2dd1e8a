"""The one HTTP client of the prediction API (the UI, the deployment step, the CLI use it).

It raises `ApiUnreachable` when nothing answers and `ApiRejected` (with the API's own message,
which names the offending field) on an error status. Where the API is and which keys to send
come from the workspace's `serving:` section and `.workbench/secrets.json` through
`ServingConfig.resolved`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from core.errors import WorkbenchError, one_line
from core.workspace import Workspace


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

    The key is the first of the legacy `serving.api_keys`, `WORKBENCH_API_KEYS` and the
    secret `api_key`; the admin key is `WORKBENCH_ADMIN_KEY`, else the legacy
    `serving.admin_key`, else the secret `admin_key` (`core.secrets`: `WORKBENCH_SECRET_<NAME>`,
    else `.workbench/secrets.json`).
    """
    serving = ws.config.serving.resolved(secrets_root=ws.root)
    keys = serving.api_keys
    return ApiTarget(serving.url, keys[0] if keys else None, serving.admin_key)


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
                f"the prediction API at {self.target.url} does not answer: {one_line(exc)}"
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

    def metrics_text(self) -> str:
        """`GET /metrics`: the Prometheus text exposition."""
        return self._call("GET", "/metrics").text

    def predict(self, records: list[dict], explain: bool = False) -> dict:
        """`POST /predict` with the API key; `ApiRejected` carries the API's message.

        `explain`: also ask for `explanations` (a model without them answers 422 naming it).
        """
        headers = {"X-API-Key": self.target.api_key} if self.target.api_key else {}
        body = {"records": records} | ({"explain": True} if explain else {})
        return self._call("POST", "/predict", json=body, headers=headers).json()

    def feedback(self, request_id: str, actual) -> dict:
        """`POST /feedback` with the API key: the actual outcome of an earlier request."""
        headers = {"X-API-Key": self.target.api_key} if self.target.api_key else {}
        body = {"request_id": request_id, "actual": actual}
        return self._call("POST", "/feedback", ok=(202,), json=body, headers=headers).json()

    def reload(self) -> dict:
        """`POST /admin/reload` with the admin key: check the aliases now."""
        if not self.target.admin_key:
            raise ApiRejected(
                401,
                "no admin key: set WORKBENCH_ADMIN_KEY or the secret admin_key "
                "(`workbench keys create NAME --role admin`)",
            )
        headers = {"X-API-Key": self.target.admin_key}
        return self._call("POST", "/admin/reload", headers=headers).json()
