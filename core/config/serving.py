"""`serving:` of `workbench.yaml`: the prediction API's settings, and where clients find it.

One typed section, strict like the others (a misspelt key fails at load, naming it). The
environment overrides a few keys for deployments (`ServingConfig.resolved`): the API, the UI,
the CLI and the deployment step all read the section through that one resolver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator

from core.config.strict import Strict
from core.secrets import ADMIN_KEY, CLIENT_KEY, read_secret

UnknownFields = Literal["reject", "ignore"]
"""`serving.unknown_fields`: what /predict does with a record field the served model does not
take (a typo, a new upstream column). `reject` answers 422 naming the record and field;
`ignore` drops it before scoring and logging, and names it in the response."""
UNKNOWN_FIELDS: tuple[str, ...] = get_args(UnknownFields)

DEFAULT_API_URL = "http://127.0.0.1:8000"
"""Where clients look for the API when neither `serving.url` nor `WORKBENCH_API_URL` is set."""

ENV_API_URL = "WORKBENCH_API_URL"
ENV_API_KEYS = "WORKBENCH_API_KEYS"
ENV_ADMIN_KEY = "WORKBENCH_ADMIN_KEY"
ENV_PREDICTION_LOG_URL = "WORKBENCH_PREDICTION_LOG_URL"
ENV_REDIS_URL = "WORKBENCH_REDIS_URL"

RateLimitStore = Literal["memory", "redis"]
"""`serving.rate_limit_store`: where the per-client request counts live."""


class ServingConfig(Strict):
    """The `serving:` section (every key optional)."""

    url: str | None = None
    """Where clients (the UI, the deployment step after a promotion) reach the API; when unset,
    `WORKBENCH_API_URL`, else `http://127.0.0.1:8000`."""
    api_keys: list[str] = []
    """Legacy: literal keys accepted in `X-API-Key` for /predict and /feedback. A secret does
    not belong in the committed config: the CLI moves literals found here to the key store and
    `.workbench/secrets.json` on first use. `WORKBENCH_API_KEYS` (comma-separated) adds keys."""
    admin_key: str | None = None
    """Legacy: a literal key for /admin/* (moved out by the CLI like `api_keys`).
    `WORKBENCH_ADMIN_KEY` wins."""
    prediction_log_url: str | None = None
    """SQLAlchemy URL of the prediction log (e.g. `postgresql+psycopg://user@host/db`); when set
    it is used instead of the workspace's Parquet folder. `WORKBENCH_PREDICTION_LOG_URL` wins."""
    prediction_log_keep_days: int | None = Field(None, ge=0)
    """Retention of the Parquet prediction log: the daily `prediction_log_compaction` job
    deletes the date partitions older than this many days before today (UTC); none keeps every
    day. A database log (`prediction_log_url`) is left alone."""
    poll_seconds: float = Field(5.0, gt=0)
    """How often the API checks the `champion` and `challenger` aliases for a new version."""
    canary_fraction: float = Field(0.0, ge=0, le=1)
    """Share of requests answered by the challenger."""
    shadow_fraction: float = Field(0.0, ge=0, le=1)
    """Share of requests also scored by the challenger in the background (not returned)."""
    max_batch: int = Field(10_000, ge=1)
    """Most records one /predict request may carry."""
    max_body_bytes: int = Field(20_000_000, ge=1024)
    """Largest request body accepted."""
    unknown_fields: UnknownFields = "reject"
    """A /predict field the served model does not take: `reject` answers 422 naming the record
    index and field; `ignore` drops it before scoring and the prediction log, and lists it in
    the response's `ignored_fields`. Either way every model input must be present."""
    rate_limit_per_minute: int | None = Field(None, ge=1)
    """Requests per minute per client (API key, else address); none = unlimited. Health,
    readiness, metrics and the OpenAPI docs are never limited."""
    rate_limit_store: RateLimitStore = "memory"
    """Where `rate_limit_per_minute` is counted: `memory` = in each API process (N processes
    allow N times the limit); `redis` = one budget per client shared by every process, in the
    Redis at `redis_url` (a fixed one-minute window). Redis unreachable: requests are served
    (fail open), logged and counted in `workbench_errors{type="rate_limit_store"}`."""
    redis_url: str | None = None
    """Redis of the shared rate limit (`redis://host:6379/0`); `WORKBENCH_REDIS_URL` wins."""

    @field_validator("unknown_fields", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        if value not in UNKNOWN_FIELDS:
            raise ValueError(
                f"serving.unknown_fields must be one of {', '.join(UNKNOWN_FIELDS)}, got {value!r}"
            )
        return value

    @field_validator("prediction_log_url")
    @classmethod
    def _is_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"not a SQLAlchemy URL (dialect://...): {value!r}")
        return value

    def resolved(
        self, environ: Mapping[str, str] | None = None, secrets_root: Path | None = None
    ) -> ServingConfig:
        """This section with the environment's overrides applied (the one place that does it).

        `WORKBENCH_ADMIN_KEY` and `WORKBENCH_PREDICTION_LOG_URL` replace their keys;
        `WORKBENCH_API_KEYS` (comma-separated) adds keys; `WORKBENCH_API_URL` fills a missing
        `url` (a configured one wins: `workbench up` exports the local API's address to the
        processes it starts), else the local default; the URL loses a trailing slash.

        Args:
            environ: The environment (default: `os.environ`).
            secrets_root: A client's workspace: its secrets (`core.secrets`, `admin_key` and
                `api_key`) fill a missing admin key and come last among the API keys. The API
                never passes it: it checks keys against the key store's hashes, so a revoked
                stored key is refused although its plaintext is still in `secrets.json`.
        """
        env = os.environ if environ is None else environ
        extra = [k.strip() for k in env.get(ENV_API_KEYS, "").split(",") if k.strip()]
        admin = env.get(ENV_ADMIN_KEY) or self.admin_key or None
        if secrets_root is not None:
            client = read_secret(secrets_root, CLIENT_KEY, env)
            extra += [client] if client else []
            admin = admin or read_secret(secrets_root, ADMIN_KEY, env)
        url = self.url or env.get(ENV_API_URL) or DEFAULT_API_URL
        return self.model_copy(
            update={
                "url": url.rstrip("/"),
                "api_keys": [str(k) for k in self.api_keys] + extra,
                "admin_key": admin,
                "prediction_log_url": env.get(ENV_PREDICTION_LOG_URL)
                or self.prediction_log_url
                or None,
                "redis_url": env.get(ENV_REDIS_URL) or self.redis_url or None,
            }
        )
