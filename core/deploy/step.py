"""The deploy step's Docker path: a blue/green rollout of the API after a promotion.

With `deploy.docker.enabled`, the scheduler's `deploy` job (run after every promotion) calls
`docker_rollout` instead of asking the running API to reload: a new API container starts from
the configured image, loads the new champion, and takes the traffic once healthy; the previous
container is stopped and kept, so `workbench deploy rollback` can bring it back.
"""

from __future__ import annotations

from core.deploy.engine import DeployError, EngineUnavailable, connect
from core.deploy.images import image_exists
from core.deploy.rollout import ApiSpec, Deployment
from core.deploy.smoke import SmokeTest
from core.deploy.spec import Step
from core.errors import WorkbenchError
from core.workspace import Workspace


def docker_rollout(ws: Workspace, on_step: Step | None = None) -> dict:
    """Roll out a new API container for `ws` as `deploy.docker` says.

    Returns:
        `{"status": "ok", "mode": "docker", "deployment", "live", "previous", "image", "url",
        "seconds", "version"}`: `version` is the champion the new container serves.

    Raises:
        DeployError: No engine, no such image, or the new container did not become healthy
            or failed the smoke test (the one serving before keeps serving). The message
            names `deploy.docker`.
    """
    cfg = ws.config.deploy.docker
    where = f"{ws.config_path}: deploy.docker is enabled"
    try:
        client = connect()
    except EngineUnavailable as exc:
        raise DeployError(f"{where}, but {exc}") from None
    if not image_exists(cfg.image, client):
        raise DeployError(
            f"{where}, but the engine has no image {cfg.image!r}: build it with "
            "`workbench deploy build` or set deploy.docker.image"
        )
    spec = ApiSpec.for_workspace(cfg.image, ws.root if cfg.mount_workspace else None, cfg.env)
    deployment = Deployment(cfg.name, cfg.port, client=client)
    smoke = SmokeTest(ws)  # the new container must pass it before it gets traffic
    done = deployment.rollout(spec, on_step, timeout=cfg.timeout_seconds, smoke=smoke)
    return {
        "status": "ok",
        "mode": "docker",
        "deployment": cfg.name,
        "live": done.live,
        "previous": done.previous,
        "image": done.image,
        "url": done.url,
        "seconds": round(done.seconds, 1),
        "version": _served_version(done.url),
        "smoke": done.smoke,
    }


def _served_version(url: str) -> str | None:
    """The champion version the entry's `/ready` reports (None when it cannot be read)."""
    from core.serving.client import ApiTarget, ServingClient

    try:
        return ServingClient(ApiTarget(url), timeout=10).ready().get("model")
    except (WorkbenchError, ValueError):
        return None
