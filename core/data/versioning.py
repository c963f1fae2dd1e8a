"""Data versions: git + DVC in the workspace. A version is a git commit plus the DVC md5s."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from core.errors import VersioningError
from core.workspace import Workspace

GIT_IGNORE = """\
# managed by workbench: data lives in DVC, stores and state are local
/mlflow.db
/mlartifacts/
/.workbench/
/.demo/
/dvc-remote/
/landing/
/quarantine/
/reports/
/predictions/
/audit/
/data/raw/
/data/.staging/
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME=env.get("GIT_AUTHOR_NAME", "workbench"),
        GIT_AUTHOR_EMAIL=env.get("GIT_AUTHOR_EMAIL", "workbench@localhost"),
        GIT_COMMITTER_NAME=env.get("GIT_COMMITTER_NAME", "workbench"),
        GIT_COMMITTER_EMAIL=env.get("GIT_COMMITTER_EMAIL", "workbench@localhost"),
    )
    return env


NO_DVC = "DVC is not installed: data versioning needs the workbench's `data` extra installed"


def require_dvc() -> None:
    """Raise `VersioningError` naming the `data` extra when DVC is not installed."""
    if importlib.util.find_spec("dvc") is None:
        raise VersioningError(NO_DVC)


def run(cmd: list[str], cwd: Path) -> str:
    """Run git or dvc in the workspace; raise `VersioningError` with its last stderr line."""
    if cmd[0] == "dvc":
        require_dvc()
    full = [sys.executable, "-m", "dvc", *cmd[1:]] if cmd[0] == "dvc" else cmd
    proc = subprocess.run(full, cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise VersioningError(f"`{' '.join(cmd[:3])}` failed: {_reason(proc)}")
    return proc.stdout


def _reason(proc: subprocess.CompletedProcess) -> str:
    """The most telling line of a failed git/DVC call (DVC prints `ERROR: ...`)."""
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("ERROR", "error", "fatal"))]
    return (errors or lines or ["(no output)"])[0]


@dataclass
class DataVersion:
    """One committed data version."""

    commit: str
    date: str
    rows: int
    md5: str
    """DVC md5 of the features file (the training input)."""
    processed_md5: str = ""
    batches: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def short(self) -> str:
        return self.commit[:8]

    @property
    def id(self) -> str:
        """`<commit8>-<md5_8>`: what training runs are tagged with."""
        return f"{self.commit[:8]}-{self.md5[:8]}"

    def to_dict(self) -> dict:
        return asdict(self) | {"id": self.id}


def init_repo(ws: Workspace, remote: str) -> None:
    """Create the git + DVC repository with a default DVC remote; idempotent."""
    root = ws.root
    if not (root / ".git").exists():
        run(["git", "init", "-q", "-b", "main"], root)
    if not (root / ".dvc").exists():
        run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    run(["dvc", "config", "core.autostage", "true"], root)
    run(["dvc", "remote", "add", "-f", "-d", "local", str(remote)], root)
    (root / ".gitignore").write_text(GIT_IGNORE, encoding="utf-8")
    run(["git", "add", "-A"], root)
    if run(["git", "status", "--porcelain"], root).strip():
        run(["git", "commit", "-q", "-m", "workbench: initialise workspace"], root)


def _dvc_md5(dvc_file: Path) -> str:
    meta = yaml.safe_load(dvc_file.read_text(encoding="utf-8"))
    return meta["outs"][0]["md5"]


def commit_version(ws: Workspace, meta: dict, message: str, push: bool = True) -> DataVersion:
    """`dvc add` processed + features, commit them with `meta`, push to the remote."""
    root = ws.root
    files = [ws.processed_file, ws.features_file]
    run(["dvc", "add", "-q", *[str(f.relative_to(root)) for f in files]], root)
    meta = dict(meta)
    meta["md5"] = _dvc_md5(ws.features_file.with_suffix(".parquet.dvc"))
    meta["processed_md5"] = _dvc_md5(ws.processed_file.with_suffix(".parquet.dvc"))
    ws.meta_file.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    if push:  # before the commit: a failed push leaves nothing committed
        run(["dvc", "push", "-q"], root)
    run(["git", "add", "-A", "data", ".gitignore"], root)
    run(["git", "commit", "-q", "-m", message], root)
    return latest_version(ws)  # type: ignore[return-value]


def restore_last_version(ws: Workspace) -> None:
    """Put `data/` back exactly as the last commit has it (after a failed versioning step)."""
    root = ws.root
    run(["git", "reset", "-q", "HEAD", "--", "data"], root)
    run(["git", "checkout", "-q", "HEAD", "--", "data"], root)
    if (ws.processed_file.with_suffix(".parquet.dvc")).exists():
        run(["dvc", "checkout", "-q", "--force"], root)
    else:
        for f in (ws.processed_file, ws.features_file):
            f.unlink(missing_ok=True)


def list_versions(ws: Workspace, limit: int | None = None) -> list[DataVersion]:
    """Data versions, newest first (at most `limit`; each costs a `git show`)."""
    if not (ws.root / ".git").exists():
        return []
    count = [f"-n{limit}"] if limit else []
    try:
        log = run(
            ["git", "log", *count, "--format=%H%x09%cI%x09%s", "--", "data/version.json"], ws.root
        )
    except VersioningError:
        return []  # no commits yet
    versions = []
    for line in log.strip().splitlines():
        commit, date, subject = line.split("\t", 2)
        meta = json.loads(run(["git", "show", f"{commit}:data/version.json"], ws.root))
        versions.append(
            DataVersion(
                commit=commit,
                date=date,
                rows=int(meta.get("rows", 0)),
                md5=meta.get("md5", ""),
                processed_md5=meta.get("processed_md5", ""),
                batches=list(meta.get("batches", [])),
                message=subject,
            )
        )
    return versions


def versions_since(ws: Workspace, version_id: str) -> int | None:
    """How many data versions were committed after `version_id` (None: not among them)."""
    if not (ws.root / ".git").exists():
        return None
    try:
        log = run(["git", "log", "--format=%H", "--", "data/version.json"], ws.root)
    except VersioningError:
        return None
    commits = log.split()
    prefix = version_id.split("-", 1)[0]
    return next((i for i, commit in enumerate(commits) if commit.startswith(prefix)), None)


def latest_version(ws: Workspace) -> DataVersion | None:
    """The newest data version, or None before the first successful run."""
    versions = list_versions(ws, limit=1)
    return versions[0] if versions else None


def current_meta(ws: Workspace) -> dict:
    """The committed metadata of the data now in the workspace (empty before the first)."""
    if not ws.meta_file.is_file():
        return {}
    return json.loads(ws.meta_file.read_text(encoding="utf-8"))


def read_version_file(ws: Workspace, version: DataVersion, which: str = "features") -> bytes:
    """The bytes of `features` or `processed` at a version, from the DVC cache or remote."""
    require_dvc()
    from dvc.api import read  # heavy import, only when a past version is asked for

    path = (ws.features_file if which == "features" else ws.processed_file).relative_to(ws.root)
    return read(str(path), repo=str(ws.root), rev=version.commit, mode="rb")
