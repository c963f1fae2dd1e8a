"""Error answers of the API: one table of kinds, errors that carry their status, one handler.

`ERROR_KINDS` is read by the OpenAPI `responses` of every route (`api.schemas.error_responses`)
and by the `workbench_errors{type}` counter (`api.routes.metrics`), so the two cannot disagree.
Validation, the service and the guards raise an `ApiError`; `create_app` registers
`error_response` once, which answers it with the same JSON body as Litestar's own errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from litestar import Request, Response


@dataclass(frozen=True)
class ErrorKind:
    """One kind of error answer."""

    status: int
    """HTTP status code."""
    label: str
    """`type` label of `workbench_errors` (several statuses may share one)."""
    description: str
    """What the answer means, as the OpenAPI document says it."""


ERROR_KINDS = {
    kind.status: kind
    for kind in (
        ErrorKind(
            400,
            "bad_request",
            "the body is not JSON or not the documented shape, or an X-Workbench-Traffic "
            "value other than smoke",
        ),
        ErrorKind(401, "auth", "X-API-Key header missing"),
        ErrorKind(
            403,
            "auth",
            "X-API-Key not valid (for /admin: not the admin key; for X-Workbench-Traffic: "
            "smoke, not a key with role admin)",
        ),
        ErrorKind(404, "not_found", "no such route"),
        ErrorKind(405, "bad_request", "method not allowed on this route"),
        ErrorKind(409, "conflict", "the prediction log is disabled"),
        ErrorKind(413, "too_large", "request body or batch larger than the configured limit"),
        ErrorKind(415, "bad_request", "/invocations: a content type other than JSON or CSV"),
        ErrorKind(
            422,
            "validation",
            "a record does not match the served model's inputs (GET /model): a field missing, "
            "mistyped or unknown (`serving.unknown_fields: reject`); `extra` names the record "
            "index and field",
        ),
        ErrorKind(429, "rate_limited", "rate limit exceeded (when `rate_limit_per_minute` is set)"),
        ErrorKind(503, "not_ready", "no model loaded yet"),
    )
}
"""Every error answer the API documents or counts, by status."""


def error_label(status: int) -> str:
    """`workbench_errors{type}` of an error status; any other 5xx is `server`, 4xx `client`."""
    kind = ERROR_KINDS.get(status)
    if kind is not None:
        return kind.label
    return "server" if status >= 500 else "client"


class ApiError(Exception):
    """An error answered with its own status; `extra` names the record index and field."""

    status: ClassVar[int]

    def __init__(self, detail: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def kind(self) -> ErrorKind:
        """This error's row of `ERROR_KINDS`."""
        return ERROR_KINDS[self.status]


class MissingKey(ApiError):
    """No `X-API-Key` header where one is required."""

    status = 401


class WrongKey(ApiError):
    """An `X-API-Key` that is not accepted here."""

    status = 403


class LogDisabled(ApiError):
    """Feedback sent while the prediction log is off."""

    status = 409


class TooLarge(ApiError):
    """A batch over the configured limit."""

    status = 413


class Invalid(ApiError):
    """A body that does not match the served model's inputs."""

    status = 422


class BadRequest(ApiError):
    """A body that cannot be parsed at all (not JSON, not CSV)."""

    status = 400


class Unsupported(ApiError):
    """A content type the route does not take."""

    status = 415


class NotReady(ApiError):
    """No model loaded yet."""

    status = 503


def error_response(_: Request, exc: ApiError) -> Response:
    """The JSON answer of an `ApiError`: `status_code`, `detail`, and `extra` when known."""
    body: dict[str, Any] = {"status_code": exc.status, "detail": exc.detail}
    if exc.extra is not None:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status)
