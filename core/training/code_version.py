"""Which code trained a model: the installed workbench version and, from a checkout, its commit."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path


def code_version() -> str:
    """The installed workbench version (and git commit of the code when available)."""
    version = metadata.version("mlops-workbench")
    try:
        root = Path(__file__).resolve().parents[2]
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        return f"{version}+{sha}"
    except (OSError, subprocess.CalledProcessError):
        return version
