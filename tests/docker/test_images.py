"""The API image, built on the local base: slim, non-root, cached, and serving like in-process."""

from __future__ import annotations

import json
import os
import shutil
import time

import httpx
import numpy as np
import pytest
from litestar.testing import TestClient
from servers import free_port
from workspaces import set_training

from api.app import create_app
from api.settings import ServeSettings
from core.deploy.images import build_image
from core.workspace import Workspace

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]  # first image builds
READY_TIMEOUT = 240
MAX_IMAGE_MB = 500
"""The API image's budget (docker image inspect `Size`, MB of 10^6 bytes); measured 491 MB (643
before the cut of docker/slim_venv.py and the flattened root, 1.26 GB with the MLflow server and
DVC): the base system 111 MB (Debian bookworm and Python without pip, translations, docs or
iconv modules), the venv 377 MB (pyarrow 86, scipy 58 + its OpenBLAS 28, pandas 31, numpy 20 +
its OpenBLAS 28, sklearn 23, mlflow-skinny 16, ...; 66 MB of it the bytecode of the modules the
API imports, kept instead of their source), the workbench package 3.5 MB."""
INSIDE = """
import importlib.metadata as md, importlib.util, json, os, pathlib
import psycopg
from core.data.versioning import VersioningError, run

def installed(name):
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return False
    return True

try:
    run(["dvc", "status"], pathlib.Path("/tmp"))
    dvc_error = None
except VersioningError as exc:
    dvc_error = str(exc)
print(json.dumps({
    "modules": {m: importlib.util.find_spec(m) is not None
                for m in ("streamlit", "evidently", "litestar", "uvicorn")},
    "distributions": {d: installed(d) for d in (
        "streamlit", "evidently", "dvc", "mlflow", "flask", "gunicorn", "pip", "setuptools",
        "mlflow-skinny", "lightgbm", "pyarrow", "psycopg", "psycopg-binary", "faker")},
    "libpq": psycopg.pq.version(),  # Debian's libpq5, loaded by pure-Python psycopg
    "system_pip": os.path.exists("/usr/lib/python3/dist-packages/pip"),
    "dvc_error": dvc_error,
    "uid": os.getuid(),
    "wheelhouse": os.path.exists("/wheelhouse"),
    "pip_env": sorted(k for k in os.environ if k.startswith("PIP_")),
}))
"""


def test_api_image_is_slim_non_root_and_keeps_no_build_settings(docker_client, api_image):
    config = docker_client.images.get(api_image.tag).attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "/ready" in " ".join(config["Healthcheck"]["Test"])
    assert not [e for e in config["Env"] if e.startswith("PIP_")]
    out = docker_client.containers.run(api_image.tag, ["python3", "-c", INSIDE], remove=True)
    inside = json.loads(out.decode().strip().splitlines()[-1])
    assert inside["modules"] == {
        "streamlit": False,
        "evidently": False,
        "litestar": True,
        "uvicorn": True,
    }
    assert inside["distributions"] == {
        "streamlit": False,
        "evidently": False,
        "dvc": False,
        "mlflow": False,  # the server and its UI: only mlflow-skinny, the registry client
        "flask": False,
        "gunicorn": False,
        "pip": False,  # the venv's packaging tools are pruned (docker/slim_venv.py)
        "setuptools": False,
        "mlflow-skinny": True,
        "lightgbm": True,
        "pyarrow": True,
        "psycopg": True,
        "psycopg-binary": False,  # Debian's libpq instead (docker/requirements.py)
        "faker": False,  # unused dependencies are pruned (docker/slim_venv.py `UNUSED`)
    }
    assert inside["libpq"] >= 150000
    assert inside["system_pip"] is False
    assert "`data` extra" in inside["dvc_error"]  # a DVC command names what to install
    assert inside["uid"] == 10001
    assert inside["wheelhouse"] is False  # the wheels stayed in the build stage
    assert inside["pip_env"] == []


def test_api_image_fits_its_size_budget_and_stores_the_venv_once(docker_client, api_image):
    image = docker_client.images.get(api_image.tag)
    size_mb = image.attrs["Size"] / 1e6
    assert size_mb <= MAX_IMAGE_MB, f"{size_mb:.0f} MB"
    # The flattened base system and the venv are the only large layers: no layer copies the
    # venv again (a chown or chmod of it would double its size).
    large = [layer["Size"] / 1e6 for layer in image.history() if layer["Size"] > 20e6]
    assert len(large) == 2, large


def test_rebuilding_reuses_the_dependency_layer(docker_client, base_image, api_image):
    again = build_image("api", base_image=base_image)
    # Only the package layers may run again (if sources changed meanwhile), never pip on the
    # requirements.
    assert not [s for s in again.rebuilt if "requirements.txt" in s], again.rebuilt
    assert again.seconds < 120


def _wait_ready(url: str, container) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode()[-3000:]
        try:
            if httpx.get(f"{url}/ready", timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the container never became ready:\n{container.logs().decode()[-3000:]}")


def _wait_healthy(container, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    health = ""
    while time.monotonic() < deadline:
        container.reload()
        health = container.attrs["State"]["Health"]["Status"]
        if health == "healthy":
            break
        time.sleep(1)
    return health


@pytest.fixture(scope="module")
def lightgbm_ws(versioned_template, tmp_path_factory) -> Workspace:
    """A workspace whose champion is LightGBM (compiled trees at registration), owned by the
    image's user."""
    from core.training.train import train

    root = tmp_path_factory.mktemp("lightgbm") / "ws"
    shutil.copytree(versioned_template, root, symlinks=True)
    train(set_training(root, candidates=["lightgbm"]))
    for folder, dirs, files in os.walk(root):
        for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
            os.lchown(name, 10001, 10001)
    return Workspace.open(root)


@pytest.mark.parametrize(
    ("workspace", "backend"),
    [("docker_ws", None), ("lightgbm_ws", "lleaves")],  # lleaves: its forest.so through ctypes
)
def test_container_serves_the_champion_like_the_in_process_api(
    docker_client, api_image, workspace, backend, holdout_records, tmp_path, request
):
    ws = request.getfixturevalue(workspace)
    root = str(ws.root)
    port = free_port()
    started = time.monotonic()
    container = docker_client.containers.run(
        api_image.tag,
        detach=True,
        environment={"WORKBENCH_HOME": root, "WORKBENCH_API_KEYS": "k"},
        volumes={root: {"bind": root, "mode": "rw"}},  # the store keeps absolute paths
        ports={"8000/tcp": ("127.0.0.1", port)},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, container)
        print(f"container start to ready: {time.monotonic() - started:.1f} s")
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        assert httpx.get(f"{url}/schema/openapi.json", timeout=30).status_code == 200
        assert httpx.get(f"{url}/ready").json()["model"] == "1"
        model = httpx.get(f"{url}/model", headers={"X-API-Key": "k"}).json()
        assert backend in (None, model["backend"]), model  # no llvmlite needed in the image
        assert _wait_healthy(container) == "healthy"  # the image's own HEALTHCHECK
        batch = holdout_records
        served = httpx.post(
            f"{url}/predict", json={"records": batch}, headers={"X-API-Key": "k"}, timeout=30
        )
        assert served.status_code == 200, served.text
        settings = ServeSettings.from_workspace(
            ws, api_keys=["k"], predictions_dir=tmp_path / "predictions", poll_seconds=60
        )
        with TestClient(create_app(settings)) as client:
            local = client.post(
                "/predict", json={"records": batch}, headers={"X-API-Key": "k"}
            ).json()
        body = served.json()
        assert body["model"] == local["model"]
        assert body["predictions"] == local["predictions"]
        np.testing.assert_allclose(body["probabilities"], local["probabilities"], atol=1e-12)
    finally:
        container.remove(force=True)
