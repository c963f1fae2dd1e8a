"""Settings of the prediction API, one typed model (no environment reads at import time)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from core.workspace import Workspace


class ServeSettings(BaseModel):
    """Everything `create_app` needs; built by `from_workspace` or directly in tests."""

    model_name: str
    """Registered model to serve (alias `champion`, and `challenger` for canary/shadow)."""
    tracking_uri: str
    """MLflow tracking + registry URI."""
    predictions_dir: Path | None = None
    """Prediction log folder (Parquet parts); None disables the log."""
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
    rate_limit_per_minute: int | None = Field(None, ge=1)
    """Requests per minute per client (API key, else address); None = unlimited. Health,
    readiness, metrics and the OpenAPI docs are never limited."""

    @classmethod
    def from_workspace(cls, ws: Workspace, **overrides) -> ServeSettings:
        """Settings from the workspace's `serving:` section, the environment, then overrides.

        `WORKBENCH_API_KEYS` (comma-separated) and `WORKBENCH_ADMIN_KEY` extend the config.
        """
        serving = dict(ws.config.serving or {})
        keys = list(serving.pop("api_keys", []) or [])
        env_keys = os.environ.get("WORKBENCH_API_KEYS", "")
        keys += [k.strip() for k in env_keys.split(",") if k.strip()]
        admin = os.environ.get("WORKBENCH_ADMIN_KEY") or serving.pop("admin_key", None)
        base = {
            "model_name": ws.config.model_name,
            "tracking_uri": ws.tracking_uri,
            "predictions_dir": ws.root / "predictions",
            "api_keys": keys,
            "admin_key": admin,
        }
        known = {k: v for k, v in serving.items() if k in cls.model_fields}
        return cls(**(base | known | overrides))
