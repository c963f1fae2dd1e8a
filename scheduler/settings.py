"""Settings of one scheduler process: the workspace, its scheduler database and schedules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config.schedules import SchedulesConfig
from core.jobs import jobs_url
from core.workspace import Workspace


@dataclass(frozen=True)
class SchedulerSettings:
    """Everything `build_scheduler` and the service need; built by `from_workspace` or in tests."""

    root: Path
    """The workspace the jobs run on."""
    url: str
    """SQLAlchemy URL of the scheduler database (job store, history, lock, commands)."""
    schedules: SchedulesConfig
    """The `schedules:` section (triggers, SLAs, retries, lock and poll timings)."""
    max_workers: int = 4
    """Jobs that may run at the same time (each job itself never overlaps)."""

    @classmethod
    def from_workspace(cls, ws: Workspace, **overrides) -> SchedulerSettings:
        """Settings from the workspace's config and `WORKBENCH_SCHEDULER_URL`."""
        base = {"root": ws.root, "url": jobs_url(ws), "schedules": ws.config.schedules}
        return cls(**{**base, **overrides})

    @property
    def key(self) -> str:
        """The workspace path as text: what persisted jobs carry to find their runner."""
        return str(self.root)
