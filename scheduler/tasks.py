"""The jobs: thin functions over `core.lifecycle` steps, each returning a summary dict.

A job gets a `JobContext` (workspace, trigger, parameters, progress callback) and returns the
summary the runner records; its `status` key (`ok` or `skipped`) becomes the run's status. An
exception is a failed run (the runner records it, alerts, and retries per config).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from core import lifecycle
from core.serving.reload import reload_api
from core.workspace import Workspace


@dataclass
class JobContext:
    """What a job run gets."""

    ws: Workspace
    trigger: str
    """`schedule`, `manual`, `retry`, `promotion`, `retrain_request`, `after_data` or
    `simulation`."""
    params: dict = field(default_factory=dict)
    """`force`, `reason`, `by` (training), `window` (drift check)."""
    progress: Callable[[float, str], None] = lambda _f, _m: None


def data_pipeline(ctx: JobContext) -> dict:
    """Ingest, validate and version whatever arrived (02:00)."""
    return lifecycle.data_step(ctx.ws, ctx.progress)


def training_pipeline(ctx: JobContext) -> dict:
    """Train when a newer data version, a retrain request, a `reason` or `force` says so (04:00).

    `force` also trains on what a registered version was trained on; without it such a run is
    `skipped` ("nothing new to train on").
    """
    p = ctx.params
    return lifecycle.training_step(
        ctx.ws, bool(p.get("force")), ctx.progress, reason=p.get("reason"), by=p.get("by")
    )


def drift_check(ctx: JobContext) -> dict:
    """Drift and performance of the prediction log's recent window (hourly)."""
    ctx.progress(0.1, "checking the prediction log")
    clock = ctx.params.get("clock")  # the simulation's day (incidents keep simulated time)
    clock = datetime.fromisoformat(clock) if clock else None
    return lifecycle.drift_step(ctx.ws, ctx.params.get("window"), clock)


def deploy(ctx: JobContext) -> dict:
    """Bring the champion to serving (after each promotion).

    With `deploy.docker.enabled`, a blue/green rollout of a new API container; otherwise the
    running API is asked to reload now.
    """
    if ctx.ws.config.deploy.docker.enabled:
        from core.deploy.step import docker_rollout  # the docker SDK only when configured

        ctx.progress(0.05, "rolling out a new API container")
        return docker_rollout(ctx.ws, lambda step: ctx.progress(0.5, step))
    ctx.progress(0.1, "asking the API to reload the champion")
    return reload_api(ctx.ws)


def feedback_export(ctx: JobContext) -> dict:
    """Labelled predictions become a landing batch, for the data run that follows (01:30)."""
    ctx.progress(0.1, "exporting labelled predictions")
    return lifecycle.feedback_step(ctx.ws)


def prediction_log_compaction(ctx: JobContext) -> dict:
    """One part per closed day of the Parquet prediction log, and its retention (00:15)."""
    from core.predictions.compaction import compaction_step

    ctx.progress(0.1, "compacting the prediction log")
    return compaction_step(ctx.ws)


JOBS: dict[str, Callable[[JobContext], dict]] = {
    "data_pipeline": data_pipeline,
    "training_pipeline": training_pipeline,
    "drift_check": drift_check,
    "deploy": deploy,
    "feedback_export": feedback_export,
    "prediction_log_compaction": prediction_log_compaction,
}
