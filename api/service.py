"""Serving a prediction: which model answers, how it scores, the shadow, the log records."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from time import perf_counter
from typing import TYPE_CHECKING, Any

import anyio

from api.batching import MicroBatcher, timed_predict
from api.errors import LogDisabled, NotReady
from api.guards import SMOKE
from api.validation import Batch

if TYPE_CHECKING:
    from api.metrics import Metrics
    from api.model_store import LoadedModel, ModelStore
    from api.settings import ServeSettings
    from core.predictions.writer import PredictionLog

log = logging.getLogger(__name__)
INLINE_ROWS = 32
"""Requests up to this many rows on the array path are scored on the event loop."""
IGNORED_NAMES_LOGGED = 100
"""Distinct ignored field names logged per process (request data: a bounded set)."""


def timed_columns(model: LoadedModel, batch: Batch) -> tuple[list, list | None, tuple]:
    """`timed_predict` of a batch on the array path from the columns its validation built."""
    started = perf_counter()
    features = model.compiled.transform_columns(batch.data, len(batch))
    transformed = perf_counter()
    preds, proba = model.estimate(features)
    return preds, proba, (transformed - started, perf_counter() - transformed)


class PredictionService:
    """The app's prediction work over its model store, metrics and prediction log."""

    def __init__(
        self,
        settings: ServeSettings,
        store: ModelStore,
        metrics: Metrics,
        prediction_log: PredictionLog | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.log = prediction_log
        self.batcher = MicroBatcher()
        self.background: set[asyncio.Task] = set()
        """Shadow scorings still running (awaited at shutdown)."""
        self.ignored_fields: set[str] = set()
        """Field names already logged as ignored (`note_ignored`)."""

    def champion(self) -> LoadedModel:
        """The served champion; `NotReady` while none is loaded."""
        champion = self.store.champion
        if champion is None:
            raise NotReady("no model loaded yet")
        return champion

    def pick(self, traffic: str | None = None) -> tuple[LoadedModel, str]:
        """The model answering a request and its variant: the challenger for the canary share.

        `traffic` is the request's mark (`api.guards.traffic_mark`): smoke-test traffic is
        always the champion's, as variant `smoke` (no canary pick, no shadow copy: `predict`
        shadows `champion` requests only), so monitoring can leave it out.
        """
        champion = self.champion()
        if traffic == SMOKE:
            return champion, SMOKE
        challenger = self.store.challenger
        if challenger is not None and random.random() < self.settings.canary_fraction:
            return challenger, "challenger"
        return champion, "champion"

    def validate(self, data, model: LoadedModel) -> Batch:
        """A `PredictRequest` checked against the model's inputs (`Invalid`, `TooLarge`)."""
        settings = self.settings
        started = perf_counter()
        try:
            batch = Batch.of(data, model.fields, settings.max_batch, settings.unknown_fields)
        finally:  # a refused body was validated too
            self.metrics.phase["validate"].observe(perf_counter() - started)
        if batch.ignored:
            self.note_ignored(batch.ignored)
        return batch

    async def predict(
        self, model: LoadedModel, variant: str, batch: Batch, client: str | None = None
    ) -> tuple[list, list | None, str]:
        """Predictions, probabilities and a new request id; counted, logged, maybe shadowed.

        `client` is the name of the caller's key (`api.guards.authorize`), logged with the rows.
        """
        metrics = self.metrics
        started = perf_counter()
        preds, proba, (transform, estimate) = await self.score(model, batch)
        elapsed = perf_counter() - started
        request_id = os.urandom(16).hex()  # 32 hex digits, like uuid4().hex at a fifth the cost
        metrics.latency.observe(elapsed)
        metrics.phase["transform"].observe(transform)
        metrics.phase["predict"].observe(estimate)
        metrics.predictions.labels(model.version, variant).inc(len(preds))
        if self.log is not None:
            started = perf_counter()
            self.record(request_id, model, variant, batch, preds, proba, elapsed, client)
            metrics.phase["log"].observe(perf_counter() - started)
        shadowed = variant == "champion" and self.settings.shadow_fraction  # canary: challenger
        if shadowed and random.random() < self.settings.shadow_fraction:
            self.shadow(request_id, batch, client)
        return preds, proba, request_id

    async def score(
        self, model: LoadedModel, batch: Batch
    ) -> tuple[list, list | None, tuple[float, float]]:
        """Score a batch: small ones on the event loop, larger ones in a worker thread.

        Small batches on the array path are coalesced with concurrent ones (`MicroBatcher`): a
        thread hop would cost more than scoring them. Also returns the seconds of the model
        call's transform and estimator (`timed_predict`).
        """
        if model.compiled is not None and len(batch) <= INLINE_ROWS:
            return await self.batcher.predict_timed(model, batch)
        if model.compiled is not None and batch.data is not None:  # the validation's columns
            return await anyio.to_thread.run_sync(timed_columns, model, batch)
        return await anyio.to_thread.run_sync(timed_predict, model, batch.columns, batch.rows)

    def record(
        self,
        request_id: str,
        model: LoadedModel,
        variant: str,
        batch: Batch,
        preds: list,
        proba: list | None,
        elapsed: float,
        client: str | None = None,
    ) -> None:
        """Queue the request for the prediction log (when it is on): one `LoggedRequest`.

        Its records are made and serialized by the log's flush thread, off the event loop.
        """
        if self.log is None:
            return
        from core.predictions.writer import LoggedRequest

        ms = 1000 * elapsed / max(len(batch), 1)
        self.log.append_request(
            LoggedRequest(
                request_id,
                time.time(),  # made into an ISO time by the flush thread
                model.name,
                model.version,
                variant,
                batch.columns,
                batch.rows,
                preds,
                proba,
                ms,
                client,
            )
        )

    def shadow(self, request_id: str, batch: Batch, client: str | None = None) -> None:
        """Score with the challenger in the background; logged as `shadow`, never returned."""
        challenger = self.store.challenger
        if challenger is None:
            return

        async def run() -> None:
            try:
                started = perf_counter()
                preds, proba = await anyio.to_thread.run_sync(batch.predict, challenger)
                elapsed = perf_counter() - started
                self.record(request_id, challenger, "shadow", batch, preds, proba, elapsed, client)
                self.metrics.predictions.labels(challenger.version, "shadow").inc(len(preds))
            except Exception as exc:  # noqa: BLE001 - shadow must never affect serving
                self.metrics.errors.labels("shadow").inc()
                log.warning("shadow scoring failed: %s", exc)

        task = asyncio.get_running_loop().create_task(run())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def feedback(self, request_id: str, actual: Any) -> None:
        """Record the actual outcome of an earlier prediction; `LogDisabled` without a log."""
        if self.log is None:
            raise LogDisabled("the prediction log is disabled")
        self.log.record_feedback(request_id, actual)

    def note_ignored(self, names: tuple[str, ...]) -> None:
        """Log each field name ignored under `unknown_fields: ignore` the first time it is seen."""
        seen = self.ignored_fields
        new = [n for n in names if n not in seen][: IGNORED_NAMES_LOGGED - len(seen)]
        if new:
            seen.update(new)
            log.warning(
                "ignoring request fields the served model does not take: %s",
                ", ".join(repr(n[:80]) for n in new),
            )
