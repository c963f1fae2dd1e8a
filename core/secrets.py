"""Workspace secrets: `.workbench/secrets.json`, plaintexts that local clients need.

The file sits under the git-ignored `.workbench/` folder, mode 0600, written atomically; it
maps a name to a value. `workbench.yaml` (committed) never holds a secret: code that needs one
reads it by name here. The environment wins over the file: `WORKBENCH_SECRET_<NAME>` (the name
upper-cased, `-` as `_`), so a deployment passes secrets without any file.

The names the workbench itself uses: `admin_key` (the plaintext of the key store's `admin`
key: `workbench up`, the scheduler's deploy step and the UI reload the API with it) and
`api_key` (the plaintext of a predict key: the demo traffic and the UI's try-a-prediction form).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from core.errors import WorkbenchError
from core.files import atomic_write_text

SECRETS_FILE = "secrets.json"
"""The file's name inside the workspace's `.workbench/` folder (git-ignored)."""
ADMIN_KEY = "admin_key"
"""Secret name: a key with role admin, sent by local clients to /admin/*."""
CLIENT_KEY = "api_key"
"""Secret name: a key with role predict, sent by local clients to /predict and /feedback."""
ENV_PREFIX = "WORKBENCH_SECRET_"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class SecretsError(WorkbenchError):
    """The secrets file cannot be read, or a secret name is not valid."""


def secrets_path(root: Path) -> Path:
    """The secrets file of the workspace at `root`."""
    return Path(root) / ".workbench" / SECRETS_FILE


def env_name(name: str) -> str:
    """The variable overriding secret `name`: `admin_key` -> `WORKBENCH_SECRET_ADMIN_KEY`."""
    return ENV_PREFIX + name.upper().replace("-", "_")


def _check(name: str) -> str:
    if not _NAME.match(name):
        raise SecretsError(
            f"not a secret name: {name!r} (a letter, then letters, digits, '_' or '-')"
        )
    return name


def read_secrets(root: Path) -> dict[str, str]:
    """Every secret in the file of the workspace at `root` (none when there is no file).

    Raises:
        SecretsError: the file is not a JSON object of strings (the message names the file).
    """
    path = secrets_path(root)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SecretsError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SecretsError(f"{path} must be a JSON object of name: string")
    return data


def read_secret(
    root: Path | None, name: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """Secret `name`: `WORKBENCH_SECRET_<NAME>`, else the workspace's file, else None.

    Args:
        root: The workspace (None: the environment only).
        name: The secret's name, e.g. `admin_key`.
        environ: The environment (default: `os.environ`).
    """
    env = os.environ if environ is None else environ
    value = env.get(env_name(_check(name)))
    if value:
        return value
    return None if root is None else read_secrets(root).get(name) or None


def write_secret(root: Path, name: str, value: str) -> Path:
    """Set secret `name` in the workspace's file (mode 0600, atomic); the file's path."""
    path = secrets_path(root)
    data = read_secrets(root) | {_check(name): value}
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)
    return path
