"""`workbench init`: create a workspace (folders, config, git + DVC with a local remote)."""

from __future__ import annotations

import secrets
from pathlib import Path

from core.config import load_config
from core.data.versioning import init_repo
from core.workspace.demo import demo_config_text, write_demo
from core.workspace import CONFIG_NAME, Workspace

BLANK_CONFIG = """\
# workbench.yaml: edit the task and target, then add validation rules per stage.
# See the demo configs (`workbench init --demo`) for every rule and option.
project: my-project
task: classification        # or regression
target: target              # the column to predict
time_column: null           # a datetime column: orders data, holds out the latest period

sources:
  landing: {path: landing, patterns: ["*.csv", "*.parquet"]}

validation:
  raw:
    - {rule: row_count, min: 1}
    - {rule: missing_rate, columns: ["*"], max: 0.10}
    - {rule: duplicates, max: 0.05}
  processed:
    - {rule: missing_rate, columns: ["*"], max: 0.0}
  features: []

versioning: {remote: dvc-remote}
"""

DEMO_SERVING = """
serving:
  # X-API-Key values accepted by the prediction API (WORKBENCH_API_KEYS adds more)
  api_keys: ["{key}"]
  # key for POST /admin/reload (the scheduler's deploy step after a promotion);
  # WORKBENCH_ADMIN_KEY wins
  admin_key: "{admin}"
  poll_seconds: 5          # how often the API checks the champion alias
  canary_fraction: 0.0     # share of requests answered by the challenger
  shadow_fraction: 0.0     # share also scored by the challenger, logged only
  # rate_limit_per_minute: 600   # per API key (else client address); 429 beyond it
"""

FOLDERS = ("landing", "data/raw", "data/processed", "data/features", "reports", "quarantine")


def init_workspace(root: Path, demo: str | None = None, initial: int | None = None) -> dict:
    """Create (or complete) a workspace at `root`; an existing config is never overwritten.

    Returns a summary: the root, whether the config was created, and the demo counts.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / CONFIG_NAME
    created = not config_path.exists()
    if created:
        text = demo_config_text(demo) if demo else BLANK_CONFIG
        if demo:
            text += DEMO_SERVING.format(
                key=secrets.token_urlsafe(18), admin=secrets.token_urlsafe(18)
            )
        config_path.write_text(text, encoding="utf-8")
    ws = Workspace(root)
    cfg = load_config(config_path)  # fail early, naming the key, on a hand-edited config
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    remote = cfg.versioning.remote
    if "://" not in remote:
        ws.resolve(remote).mkdir(parents=True, exist_ok=True)
    init_repo(ws, remote)  # a relative folder stays relative: the workspace can move
    summary: dict = {"root": str(root), "config_created": created}
    if demo and created:
        summary["demo"] = write_demo(root, demo, initial)
        summary["api_key"] = cfg_keys(config_path)
    return summary


def cfg_keys(config_path: Path) -> str | None:
    """The first API key in a workspace config (the demo key), or None."""
    keys = load_config(config_path).serving.api_keys
    return keys[0] if keys else None
