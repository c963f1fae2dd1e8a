"""Docker fixtures: the engine, the local base image, the API image (built once per session).

The base image is made with debootstrap (public registries are out of reach) and kept by tag;
the API image is built from it with the legacy builder, so a session pays the dependency layer
once and every later build of unchanged sources is answered by the layer cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from docker_engine import docker_engine
from workspaces import copy_workspace

from core.deploy.base import ensure_base_image
from core.deploy.engine import DeployError, EngineUnavailable
from core.deploy.images import build_image
from core.training.data import load_split
from core.workspace import Workspace

IMAGE_UID = 10001
"""The non-root user of the images (docker/api.Dockerfile)."""


@pytest.fixture(scope="session")
def docker_client():
    """A pinged client; fails (never skips) when no engine can be had: the README's test
    command installs docker.io."""
    try:
        with docker_engine() as client:
            yield client
    except EngineUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """`workbench-base:bookworm`, made with debootstrap unless the engine has it."""
    try:
        return ensure_base_image(client=docker_client)
    except DeployError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def api_image(docker_client, base_image):
    """The API image built on the local base (a `BuiltImage`; cached layers after the first).

    Built through its own client: a build may stay silent longer than `docker_client` waits.
    """
    return build_image("api", base_image=base_image)


def chown_tree(root: Path, uid: int) -> None:
    """Give a workspace to the image's user (the container writes its prediction log there)."""
    for folder, dirs, files in os.walk(root):
        for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
            os.lchown(name, uid, uid)


@pytest.fixture(scope="session")
def holdout_records(trained_template) -> list[dict]:
    """200 raw holdout records of the trained workspace as a client sends them (JSON values,
    null for missing, ISO-8601 timestamps).

    Read from the root-owned template: git refuses a repository owned by another user.
    """
    X = load_split(Workspace.open(trained_template)).X_test.head(200)
    return json.loads(X.to_json(orient="records", date_format="iso", date_unit="s"))


@pytest.fixture(scope="module")
def docker_ws(trained_template, tmp_path_factory) -> Workspace:
    """A trained workspace owned by the image's user, mounted into containers at its path."""
    root = copy_workspace(trained_template, tmp_path_factory.mktemp("docker") / "ws")
    chown_tree(root, IMAGE_UID)
    return Workspace.open(root)
