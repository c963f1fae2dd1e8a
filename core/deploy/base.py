"""A local base image for machines that cannot pull from public registries.

`debootstrap` makes a minimal Debian bookworm root file system with Python 3.11 (the version
of the `python:3.11-slim-bookworm` default), and `docker import` turns it into an image. The
Dockerfiles take it as `--build-arg BASE_IMAGE=workbench-base:bookworm`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from core.deploy.engine import DeployError, connect

BASE_TAG = "workbench-base:bookworm"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
MIRROR = "http://deb.debian.org/debian"
CHANGES = [
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["python3"]',
]
SLIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man")


def ensure_base_image(
    tag: str = BASE_TAG,
    suite: str = "bookworm",
    mirror: str = MIRROR,
    force: bool = False,
    client=None,
    on_line=None,
) -> str:
    """Build the base image unless the engine already has `tag`; return the tag.

    Raises:
        DeployError: debootstrap is missing (`make system-deps`) or failed.
    """
    import docker

    client = client or connect()
    if not force:
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).is_file():
        raise DeployError("debootstrap is not installed: run `make system-deps`")
    with tempfile.TemporaryDirectory(prefix="workbench-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        if on_line:
            on_line(f"debootstrap {suite} into {rootfs} (about a minute)")
        done = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", suite]
            + [str(rootfs), mirror],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
            raise DeployError(f"debootstrap failed ({done.returncode}):\n{tail}")
        for part in SLIM:
            for child in (rootfs / part).glob("*"):
                if child.is_symlink() or child.is_file():
                    child.unlink()
                elif part != "var/lib/apt/lists":  # keeps its `partial/` folder
                    shutil.rmtree(child)
        archive = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(
            str(archive), repository=repo, tag=version or "latest", changes=CHANGES
        )
    return tag
