"""Settings of the prediction API, one typed model (no environment reads at import time)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from core.config import UnknownFields
from core.workspace import Workspace


class ServeSettings(BaseModel):
    """Everything `create_app` needs; built by `from_workspace` or directly in tests."""

    model_name: str
    """Registered model to serve (alias `champion`, and `challenger` for canary/shadow)."""
    tracking_uri: str
    """MLflow tracking + registry URI."""
    workspace: Path | None = None
    """Workspace root: its latest drift/performance check is exported at /metrics."""
    predictions_dir: Path | None = None
    """Prediction log folder (Parquet parts); None (and no URL) disables the log."""
    prediction_log_url: str | None = None
    """SQLAlchemy URL of the prediction log (e.g. `postgresql+psycopg://user@host/db`); when set
    it is used instead of `predictions_dir`. Config `serving.prediction_log_url` or
    `WORKBENCH_PREDICTION_LOG_URL` (the environment wins)."""
    poll_seconds: float = Field(5.0, gt=0)
    """How often the alias is checked for a new version."""
    canary_fraction: float = Field(0.0, ge=0, le=1)
    """Share of requests answered by the challenger."""
    shadow_fraction: float = Field(0.0, ge=0, le=1)
    """Share of requests also scored by the challenger in the background (not returned)."""
    api_keys: list[str] = []
    """Keys accepted in `X-API-Key` for /predict and /feedback; empty = no key required."""
    admin_key: str | None = None
    """Key for /admin/*; None = admin endpoints refuse every request."""
    max_batch: int = Field(10_000, ge=1)
    """Most records one /predict request may carry."""
    max_body_bytes: int = Field(20_000_000, ge=1024)
    """Largest request body accepted."""
    unknown_fields: UnknownFields = "reject"
    """A /predict field the served model does not take (a typo, a new upstream column):
    `reject` answers 422 naming the record index and field; `ignore` drops it before scoring and
    before the prediction log, and lists it in the response's `ignored_fields`. Either way every
    model input must be present, so a misspelt input is still refused (as missing). The OpenAPI
    document follows: records allow other properties only under `ignore`."""
    freeze_heap: bool = False
    """Keep what is alive after a model load out of the garbage collector's full passes
    (`gc.freeze`): on for the server process (`api.main`), off where tests build many apps in
    one process."""
    rate_limit_per_minute: int | None = Field(None, ge=1)
    """Requests per minute per client (API key, else address); None = unlimited. Health,
    readiness, metrics and the OpenAPI docs are never limited."""

    @field_validator("prediction_log_url")
    @classmethod
    def _is_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"not a SQLAlchemy URL (dialect://...): {value!r}")
        return value

    @property
    def prediction_log_destination(self) -> Path | str | None:
        """Where `create_app` logs predictions: the URL, else the folder, else nowhere."""
        return self.prediction_log_url or self.predictions_dir

    @classmethod
    def from_workspace(cls, ws: Workspace, **overrides) -> ServeSettings:
        """Settings from the workspace's `serving:` section, the environment, then overrides.

        `WORKBENCH_API_KEYS` (comma-separated) and `WORKBENCH_ADMIN_KEY` extend the config;
        `WORKBENCH_PREDICTION_LOG_URL` replaces `serving.prediction_log_url`.
        """
        from core.predictions import prediction_log_url

        serving = dict(ws.config.serving or {})
        keys = list(serving.pop("api_keys", []) or [])
        env_keys = os.environ.get("WORKBENCH_API_KEYS", "")
        keys += [k.strip() for k in env_keys.split(",") if k.strip()]
        config_admin = serving.pop("admin_key", None)  # popped always: the environment wins
        admin = os.environ.get("WORKBENCH_ADMIN_KEY") or config_admin
        serving.pop("prediction_log_url", None)
        base = {
            "model_name": ws.config.model_name,
            "tracking_uri": ws.tracking_uri,
            "workspace": ws.root,
            "predictions_dir": ws.root / "predictions",
            "api_keys": keys,
            "admin_key": admin,
            "prediction_log_url": prediction_log_url(ws),
        }
        known = {k: v for k, v in serving.items() if k in cls.model_fields}
        return cls(**(base | known | overrides))
