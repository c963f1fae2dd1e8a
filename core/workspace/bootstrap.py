"""`workbench init`: create a workspace (folders, config, git + DVC with a local remote)."""

from __future__ import annotations

from pathlib import Path

from core.config import load_config
from core.config.edit import remove_keys
from core.data.versioning import init_repo
from core.secrets import ADMIN_KEY, CLIENT_KEY, read_secrets, write_secret
from core.serving import keys
from core.workspace import CONFIG_NAME, Workspace
from core.workspace.demo import demo_config_text, write_demo

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
  # API keys live outside this (committed) file: `workbench keys create NAME` adds one to
  # .workbench/api_keys.json (hashes only); the demo's `demo-client` (predict) and `admin`
  # keys' plaintexts are in .workbench/secrets.json for the local clients (git-ignored)
  poll_seconds: 5          # how often the API checks the champion alias
  canary_fraction: 0.0     # share of requests answered by the challenger
  shadow_fraction: 0.0     # share also scored by the challenger, logged only
  # rate_limit_per_minute: 600   # per API key (else client address); 429 beyond it
"""
DEMO_CLIENT, DEMO_ADMIN = "demo-client", "admin"
"""Names of the demo's keys in the key store."""
LEGACY_PREFIX = "legacy-"
"""Literal keys moved out of `workbench.yaml` become `legacy-1..n` and `legacy-admin`."""

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
            text += DEMO_SERVING
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
        summary["api_key"] = demo_keys(root)
    return summary


def demo_keys(root: Path) -> str:
    """Create the demo's `demo-client` (predict) and `admin` keys; the client key.

    Only their hashes go to the key store; both plaintexts go to `.workbench/secrets.json`
    (`api_key`, `admin_key`), where the local clients (`workbench up`, the deploy step, the
    demo traffic, the UI) read them. Nothing goes to the committed `workbench.yaml`.
    """
    client = keys.create(root, DEMO_CLIENT, "predict")
    write_secret(root, CLIENT_KEY, client)
    write_secret(root, ADMIN_KEY, keys.create(root, DEMO_ADMIN, "admin"))
    return client


def migrate_literal_keys(root: Path) -> str | None:
    """Move literal `serving.api_keys` / `serving.admin_key` out of `workbench.yaml`.

    Each literal goes to the key store (`legacy-1..n` with role predict, `legacy-admin` with
    role admin; a key already stored is not added twice) and to `.workbench/secrets.json` (the
    first predict key as `api_key`, the admin key as `admin_key`, unless set), then the keys are
    removed from the YAML (comments of the other keys kept). The store and secrets are written
    first, so an interrupted migration is finished by the next one.

    Returns:
        One line saying what moved and that committed keys must be rotated; None when the
        config holds no literal key.
    """
    root = Path(root)
    config_path = root / CONFIG_NAME
    serving = load_config(config_path).serving
    if not serving.api_keys and not serving.admin_key:
        return None
    stored = {k.hash for k in keys.load(keys.store_path(root))}
    names = {k.name for k in keys.load(keys.store_path(root)) if k.status() == "active"}
    moved = []
    literals = [(k, "predict") for k in serving.api_keys]
    literals += [(serving.admin_key, "admin")] if serving.admin_key else []
    for key, role in literals:
        if keys.hash_key(key) in stored:
            continue
        name = _free_name(names, "admin" if role == "admin" else "")
        keys.create(root, name, role, key=key)
        stored.add(keys.hash_key(key))
        names.add(name)
        moved.append(name)
    current = read_secrets(root)
    if serving.api_keys and CLIENT_KEY not in current:
        write_secret(root, CLIENT_KEY, serving.api_keys[0])
    if serving.admin_key and ADMIN_KEY not in current:
        write_secret(root, ADMIN_KEY, serving.admin_key)
    remove_keys(config_path, "serving", ["api_keys", "admin_key"])
    return (
        f"moved {len(literals)} API key(s) from {config_path} to the key store "
        f"({', '.join(moved) or 'already there'}) and .workbench/secrets.json; keys that were "
        "committed to git must be rotated: `workbench keys create NAME` for each client, then "
        "`workbench keys revoke` the legacy ones"
    )


def _free_name(taken: set[str], suffix: str) -> str:
    """`legacy-admin` (`suffix` "admin") or the next `legacy-N`, avoiding active names."""
    if suffix and LEGACY_PREFIX + suffix not in taken:
        return LEGACY_PREFIX + suffix
    n = 1
    while f"{LEGACY_PREFIX}{suffix + '-' if suffix else ''}{n}" in taken:
        n += 1
    return f"{LEGACY_PREFIX}{suffix + '-' if suffix else ''}{n}"
