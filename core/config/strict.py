"""The base of every config section: unknown keys are errors, so a typo fails at load."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A config section that refuses keys it does not define."""

    model_config = ConfigDict(extra="forbid")
