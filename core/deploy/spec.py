"""What a rollout starts: the API container's spec, the entry image, labels, the outcome."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

API_PORT = 8000
COLORS = ("blue", "green")
LABEL_DEPLOYMENT = "workbench.deployment"
LABEL_KIND = "workbench.kind"
LABEL_COLOR = "workbench.color"
ENTRY_IMAGE = "workbench-haproxy:latest"
"""The entry point's image (`workbench deploy build --role haproxy`, docker/haproxy.Dockerfile)."""
ENTRY_COMMAND = [
    "haproxy",
    "-W",
    "-db",
    "-f",
    "/etc/haproxy/haproxy.cfg",
    "-f",
    "/etc/haproxy/colors.cfg",
]
"""HAProxy with the blue/green backend (docker/haproxy/colors.cfg: servers `blue`, `green`)."""
ENTRY_SOCKET = "/run/haproxy/admin.sock"
"""HAProxy's runtime API inside the entry container (level admin)."""
ENTRY_STATE = "/var/lib/haproxy/server-state"
"""The server-state file a restarted entry loads (written after every change)."""
BACKEND = "api"
FORWARDED_ENV = (
    "WORKBENCH_TRACKING_URI",
    "WORKBENCH_PREDICTION_LOG_URL",
    "WORKBENCH_API_KEYS",
    "WORKBENCH_ADMIN_KEY",
    "WORKBENCH_POLL_SECONDS",
)
"""Passed from the caller's environment to new API containers when set."""
_S = 1_000_000_000  # Docker healthcheck durations are in nanoseconds
HEALTHCHECK = {
    "test": [
        "CMD",
        "python3",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=3)",
    ],
    "interval": 2 * _S,
    "timeout": 4 * _S,
    "retries": 3,
    "start_period": 600 * _S,
}
"""The image's healthcheck, checked every 2 s so a rollout does not wait 10 s per probe."""

Step = Callable[[str], None]


@dataclass
class ApiSpec:
    """What a new API container runs."""

    image: str
    workspace: Path | None = None
    """Mounted at the same path (the SQLite store keeps absolute artifact paths); None when the
    container reaches MLflow and the prediction log by URL (`env`)."""
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    """`uid:gid`; default: the workspace's owner (so the prediction log is writable), else the
    image's non-root user."""

    @classmethod
    def for_workspace(cls, image: str, workspace: Path | None, env: dict | None = None):
        """A spec that forwards `FORWARDED_ENV` from this process, then `env`."""
        forwarded = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
        return cls(image, workspace, forwarded | (env or {}))

    def container_env(self) -> dict[str, str]:
        env = {"FORWARDED_ALLOW_IPS": "*"}  # the client address: HAProxy's X-Forwarded-For
        if self.workspace is not None:
            env["WORKBENCH_HOME"] = str(self.workspace)
        if self.run_as():
            env["HOME"] = "/tmp"  # an arbitrary uid has no home in the image
        return env | self.env

    def run_as(self) -> str | None:
        if self.user or self.workspace is None:
            return self.user
        st = self.workspace.stat()
        return f"{st.st_uid}:{st.st_gid}"


@dataclass
class Switch:
    """What a rollout or rollback did."""

    live: str
    previous: str | None
    image: str
    seconds: float
    url: str
    smoke: dict | None = None
    """The new container's smoke test (`core.deploy.smoke.SmokeReport.to_dict`), when run."""
