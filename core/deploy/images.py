"""Build the workbench images with the legacy builder, from a context assembled here.

The context holds the Dockerfiles, `pyproject.toml`, the packages and, under
`docker/wheelhouse/`, the role's wheels (`core.deploy.wheels`). Files are added in a fixed
order with fixed metadata, so the same sources give the same context and Docker's layer cache
answers a rebuild in seconds. Tags are `<repo>:<package version>-<source digest>` plus `latest`.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from core.deploy.engine import DeployError, connect
from core.deploy.wheels import prepare_wheelhouse, source_root

ROLES = {
    "api": ("docker/api.Dockerfile", "workbench-api"),
    "workbench": ("docker/workbench.Dockerfile", "workbench"),
    "mlflow": ("docker/mlflow.Dockerfile", "workbench-mlflow"),
    "haproxy": ("docker/haproxy.Dockerfile", "workbench-haproxy"),
    "prometheus": ("docker/prometheus.Dockerfile", "workbench-prometheus"),
    "alertmanager": ("docker/alertmanager.Dockerfile", "workbench-alertmanager"),
}
"""Role → (Dockerfile, image repository)."""
NO_WHEELS = {"haproxy", "prometheus", "alertmanager"}
"""Roles whose image installs no Python package (Debian packages only)."""
SOURCES = (
    "pyproject.toml",
    "README.md",
    ".streamlit/config.toml",
    "core",
    "api",
    "app",
    "scheduler",
    "pages",
    "docker",
)
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", "wheelhouse"}
ROLE_LABEL = "workbench.role"
KEEP_IMAGES = 3
"""Images of a role kept after a build (the newest; images of existing containers always)."""
BUILD_TIMEOUT = 3600
"""Seconds the engine may stay silent during a build (pip installing a large layer)."""


@dataclass
class BuiltImage:
    """The outcome of `build_image`."""

    tag: str
    id: str
    seconds: float
    steps: int
    cached_steps: int
    rebuilt: list[str]
    """The RUN / COPY steps that ran (not answered by the layer cache)."""


def _files(root: Path) -> Iterator[tuple[Path, str]]:
    for name in SOURCES:
        top = root / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in paths:
            rel = path.relative_to(root)
            if SKIP_PARTS.isdisjoint(rel.parts) and path.suffix not in (".pyc", ".pyo"):
                yield path, rel.as_posix()


def _add(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    info = tarfile.TarInfo(arcname)
    info.size = path.stat().st_size
    info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
    with path.open("rb") as f:
        tar.addfile(info, f)


def source_digest(root: Path | None = None) -> str:
    """A digest of the build sources (what goes into the context, wheels aside)."""
    root = root or source_root()
    h = hashlib.sha256()
    for path, rel in _files(root):
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def build_context(role: str, wheelhouse: Path | None) -> tempfile.SpooledTemporaryFile:
    """The tar context of a role's image (rewound, ready to send)."""
    root = source_root()
    spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115 - the caller closes it
    with tarfile.open(fileobj=spool, mode="w") as tar:
        for path, rel in _files(root):
            _add(tar, path, rel)
        readme = root / "docker" / "wheelhouse" / "README.md"
        if readme.is_file():
            _add(tar, readme, "docker/wheelhouse/README.md")
        if wheelhouse is not None:
            for path in sorted(wheelhouse.glob("*.whl")) + [wheelhouse / "constraints.txt"]:
                _add(tar, path, f"docker/wheelhouse/{path.name}")
    spool.seek(0)
    return spool


def default_tag(role: str) -> str:
    """`<repo>:<package version>-<source digest>`."""
    version = metadata.version("mlops-workbench")
    return f"{ROLES[role][1]}:{version}-{source_digest()}"


def build_image(
    role: str = "api",
    tag: str | None = None,
    base_image: str | None = None,
    wheelhouse: bool = True,
    on_line: Callable[[str], None] | None = None,
    client=None,
) -> BuiltImage:
    """Build a role's image and tag it (also as `latest`).

    Args:
        role: `api`, `workbench` (UI + scheduler), `mlflow`, `haproxy` (the entry point),
            `prometheus` or `alertmanager`.
        tag: The image tag; default `default_tag(role)`.
        base_image: Passed as the `BASE_IMAGE` build argument (default: the Dockerfile's).
        wheelhouse: Install wheels prepared on this machine (offline build); False lets pip
            in the build reach the index itself.
        on_line: Receives the build output line by line.
        client: A docker client (default: `connect()` with `BUILD_TIMEOUT`).

    Raises:
        DeployError: The build failed (the message ends with its last output lines).
        EngineUnavailable: No engine.
    """
    if role not in ROLES:
        raise DeployError(f"unknown image role {role!r}: {', '.join(ROLES)}")
    client = client or connect(timeout=BUILD_TIMEOUT)
    repo = ROLES[role][1]
    tag = tag or default_tag(role)
    wheels = prepare_wheelhouse(role, on_line) if wheelhouse and role not in NO_WHEELS else None
    started = time.monotonic()
    args = {"BASE_IMAGE": base_image} if base_image else {}
    lines: list[str] = []
    with build_context(role, wheels) as context:
        image_id = _stream_build(client, context, role, tag, args, lines, on_line)
    client.images.get(image_id).tag(repo, "latest")
    prune_images(role, KEEP_IMAGES, client)
    steps = [i for i, line in enumerate(lines) if line.startswith("Step ")]
    cached = [i for i in steps if i + 1 < len(lines) and "Using cache" in lines[i + 1]]
    rebuilt = [
        lines[i].split(" : ", 1)[-1]
        for i in steps
        if i not in cached and lines[i].split(" : ", 1)[-1].split(" ", 1)[0] in ("RUN", "COPY")
    ]
    return BuiltImage(tag, image_id, time.monotonic() - started, len(steps), len(cached), rebuilt)


def _stream_build(client, context, role, tag, args, lines, on_line) -> str:
    image_id = None
    stream = client.api.build(
        fileobj=context,
        custom_context=True,
        dockerfile=ROLES[role][0],
        tag=tag,
        buildargs=args,
        rm=True,
        forcerm=True,
        pull=False,
        network_mode="host",  # only for a build without a wheelhouse (pip reaches the index)
        labels={ROLE_LABEL: role},
        decode=True,
    )
    for chunk in stream:
        if "error" in chunk:
            tail = "\n".join(lines[-12:])
            raise DeployError(f"image build failed: {chunk['error'].strip()}\n{tail}")
        text = chunk.get("stream", "")
        for line in text.splitlines():
            if line.strip():
                lines.append(line)
                if on_line is not None:
                    on_line(line)
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
    if image_id is None:
        raise DeployError("image build ended without an image id:\n" + "\n".join(lines[-12:]))
    return image_id


def list_images(role: str = "api", client=None) -> list[dict]:
    """The role's local images, newest first: tags, id, created, size in MB."""
    client = client or connect()
    images = client.images.list(filters={"label": f"{ROLE_LABEL}={role}"})
    rows = [
        {
            "tags": sorted(image.tags),
            "id": image.short_id.removeprefix("sha256:"),
            "created": image.attrs.get("Created", "")[:19].replace("T", " "),
            "size_mb": round(image.attrs.get("Size", 0) / 1e6),
        }
        for image in images
    ]
    return sorted(rows, key=lambda r: r["created"], reverse=True)


def image_exists(tag: str, client=None) -> bool:
    """Whether the engine has an image with this tag."""
    import docker

    client = client or connect()
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def prune_images(role: str, keep: int = KEEP_IMAGES, client=None) -> list[str]:
    """Remove all but the newest `keep` images of a role; never one a container uses.

    Returns:
        The removed tags.
    """
    client = client or connect()
    used = {c.attrs.get("Image") for c in client.containers.list(all=True)}
    images = client.images.list(filters={"label": f"{ROLE_LABEL}={role}"})
    images.sort(key=lambda i: i.attrs.get("Created", ""), reverse=True)
    removed = []
    for image in images[keep:]:
        if image.id in used:
            continue
        for tag in image.tags:
            try:
                client.images.remove(tag, noprune=False)
                removed.append(tag)
            except Exception:  # noqa: BLE001 - in use meanwhile, or already gone: keep going
                continue
    return removed
