"""The per-client rate limit (`serving.rate_limit_per_minute`), per process or shared in Redis.

`serving.rate_limit_store: memory` (the default) is Litestar's `RateLimitConfig` with its
in-process store: each API process keeps its own counts. `redis` keeps one budget per client
for every process: a fixed one-minute window counted with `INCR` + `EXPIRE` in one Redis
transaction (atomic, so two processes cannot both spend the last request; Litestar's store
middleware reads then writes a history, which races across processes). The Redis key holds
a digest of the client identity, never an API key itself.

A Redis outage fails open: the request is served, `workbench_errors{type="rate_limit_store"}`
counts it, and one warning is logged per outage (and one line when Redis answers again); Redis
is asked again `RETRY_SECONDS` after a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable

from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import ASGIApp, Receive, Scope, Send

from api.settings import ServeSettings

log = logging.getLogger(__name__)

EXEMPT = ("/health", "/ready", "/metrics", "/schema")
"""Path prefixes never limited (probes, metrics, the OpenAPI docs)."""
WINDOW_SECONDS = 60
KEY_PREFIX = "workbench:ratelimit:"
REDIS_TIMEOUT_SECONDS = 0.5
"""Connect and command timeout of each Redis call."""
RETRY_SECONDS = 5.0
"""After a failed call, requests are served without asking Redis for this long: a hung Redis
delays one request every few seconds, not each one."""
STORE_ERROR = "rate_limit_store"
"""`workbench_errors{type}` of a request served unlimited because Redis did not answer."""

Identify = Callable[[Request], str]
"""The client identity of a request (e.g. its API key, else its address)."""


class RateLimitSetupError(ValueError):
    """The rate-limit settings cannot work (e.g. `redis` without a Redis URL)."""


def rate_limit_middleware(settings: ServeSettings, identify: Identify) -> list:
    """The app middleware limiting requests per client (none when no limit is set).

    Raises:
        RateLimitSetupError: `rate_limit_store: redis` without `redis_url` /
            `WORKBENCH_REDIS_URL`, or without the `redis` library.
    """
    limit = settings.rate_limit_per_minute
    if not limit:
        return []
    if settings.rate_limit_store == "memory":
        config = RateLimitConfig(
            rate_limit=("minute", limit),
            exclude=list(EXEMPT),
            identifier_for_request=identify,
        )
        return [config.middleware]
    if not settings.redis_url:
        raise RateLimitSetupError(
            "serving.rate_limit_store is redis but no Redis URL is set: set serving.redis_url "
            "or WORKBENCH_REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    try:
        import redis.asyncio  # noqa: F401 - only checks the library is there
    except ImportError as exc:
        raise RateLimitSetupError(
            "serving.rate_limit_store is redis but the `redis` library is missing: "
            "pip install 'mlops-workbench[api]'"
        ) from exc
    limiter = RedisWindow(settings.redis_url, limit)
    return [lambda app: limiter.wrap(app, identify)]


class RedisWindow:
    """A fixed one-minute window per client in Redis, shared by every API process."""

    def __init__(self, url: str, limit: int) -> None:
        self.url = url
        self.limit = limit
        self._clients: dict[asyncio.AbstractEventLoop, object] = {}
        self._down = False
        self._retry_at = 0.0

    def _client(self):
        """This event loop's client (a connection pool belongs to one loop)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(
                self.url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._clients = {loop: client}  # an older loop (a closed test client) is gone
        return client

    async def spend(self, identity: str, now: float | None = None) -> tuple[int, int] | None:
        """Count one request of `identity`; its count in the window and seconds left in it.

        None when Redis did not answer (the caller serves the request: fail open).
        """
        if self._down and time.monotonic() < self._retry_at:
            return None
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        key = f"{KEY_PREFIX}{digest}:{window}"
        import redis

        try:
            async with self._client().pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(key).expire(key, WINDOW_SECONDS + 1).execute()
        except (redis.RedisError, OSError) as exc:
            if not self._down:
                log.warning(
                    "rate limit store %s unreachable, serving requests unlimited: %s",
                    self.url,
                    exc,
                )
            self._down = True
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return None
        if self._down:
            log.warning("rate limit store %s answers again, limiting requests", self.url)
            self._down = False
        return int(count), math.ceil((window + 1) * WINDOW_SECONDS - now)

    def wrap(self, app: ASGIApp, identify: Identify) -> ASGIApp:
        """ASGI middleware: 429 (with `Retry-After`) once a client's budget is spent."""

        async def limit(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] == "http" and not path.startswith(EXEMPT):
                spent = await self.spend(identify(Request(scope)))
                if spent is None:
                    scope["app"].state.metrics.errors.labels(type=STORE_ERROR).inc()
                elif spent[0] > self.limit:
                    raise TooManyRequestsException(
                        detail=f"rate limit exceeded: {self.limit} requests per minute",
                        headers={"Retry-After": str(spent[1])},
                    )
            await app(scope, receive, send)

        return limit
