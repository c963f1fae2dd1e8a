"""The wheelhouse of an image build: the role's requirements, pinned and fetched on this machine.

pip inside a build cannot use this machine's package setup (its local indexes, its CA bundle,
its pip configuration), and an image must not keep them. So the wheels are prepared here, with
the machine's own pip, and the Dockerfile installs them offline in a build stage whose files
never reach the final image. Versions are pinned to the ones installed here (what the tests
ran with) through a constraints file.
"""

from __future__ import annotations

import hashlib
import os
import runpy
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from core.deploy.engine import DeployError

STAMP = ".stamp"


def source_root() -> Path:
    """The source checkout the images are built from (`docker/` next to the packages).

    Raises:
        DeployError: The package is installed without its source tree (e.g. inside an image).
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "docker" / "api.Dockerfile").is_file():
        raise DeployError(f"image builds need the source checkout; none at {root}")
    return root


def role_requirements(role: str, root: Path | None = None) -> list[str]:
    """The role's requirements, as `docker/requirements.py` prints them for the Dockerfile."""
    root = root or source_root()
    script = runpy.run_path(str(root / "docker" / "requirements.py"))
    with (root / "pyproject.toml").open("rb") as f:
        return list(dict.fromkeys(script["requirements"](role, tomllib.load(f))))


_UNPINNED = {"pip", "setuptools", "wheel"}
"""Packaging tools are left to pip's resolver: a fresh venv carries the Python release's old
setuptools, and pinning it conflicts with dependencies that need a newer one."""


def installed_pins(requirements: list[str]) -> list[str]:
    """`name==version` for every installed distribution the requirements pull in (transitively).

    Markers are evaluated for this interpreter (the images run the same Python minor version);
    a requirement that is not installed here is left to pip's resolver.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset]] = set()
    stack = [(Requirement(r), "") for r in requirements]
    while stack:
        req, extra = stack.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen or key[0] in _UNPINNED:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        pins[key[0]] = dist.version
        for line in dist.requires or []:
            sub = Requirement(line)
            wanted = [e for e in ("", *req.extras) if sub.marker is None or _ok(sub, e)]
            if wanted:
                stack.append((sub, wanted[0]))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _ok(req, extra: str) -> bool:
    return req.marker.evaluate({"extra": extra})


def cache_dir() -> Path:
    """Where wheelhouses are kept between builds (`WORKBENCH_WHEELHOUSE` overrides)."""
    if os.environ.get("WORKBENCH_WHEELHOUSE"):
        return Path(os.environ["WORKBENCH_WHEELHOUSE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "workbench" / "wheelhouse"


def prepare_wheelhouse(role: str, on_line=None) -> Path:
    """Fill (or reuse) the role's wheelhouse: its wheels and `constraints.txt`.

    Reused as is when the requirements and the pins are those of the last fill, so a rebuild
    sends the same files and Docker's layer cache keeps the dependency layer.

    Raises:
        DeployError: pip could not fetch or build a wheel (its last lines are in the message).
    """
    requirements = role_requirements(role)
    pins = installed_pins(requirements)
    folder = cache_dir() / role
    digest = hashlib.sha256("\n".join(requirements + ["--"] + pins).encode()).hexdigest()
    if (folder / STAMP).is_file() and (folder / STAMP).read_text() == digest:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    (folder / "constraints.txt").write_text("\n".join(pins) + "\n")
    _say(on_line, f"wheelhouse for {role}: {len(pins)} pinned distributions -> {folder}")
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder)]
    cmd += ["--find-links", str(folder), "-r", str(folder / "requirements.txt")]
    cmd += ["-c", str(folder / "constraints.txt")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise DeployError(f"pip wheel failed for the {role} image:\n{tail}")
    _prune(folder, pins)
    (folder / STAMP).write_text(digest)
    return folder


def _prune(folder: Path, pins: list[str]) -> None:
    """Delete wheels of a pinned name at another version (left by an earlier fill)."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from packaging.version import Version

    pinned = dict(p.split("==") for p in pins)
    for wheel in folder.glob("*.whl"):
        try:
            name, version, *_ = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            continue
        if name in pinned and version != Version(pinned[name]):
            wheel.unlink()


def _say(on_line, text: str) -> None:
    if on_line is not None:
        on_line(text)
