"""Micro-batching: concurrent small requests for one model share one array-path call.

Under load many requests are parsed in the same event-loop iteration. The first one to score
schedules a flush with `loop.call_soon`, so every request that reaches scoring in that iteration
joins it: one transform and one model call for all of them instead of one each (the fixed cost
of a LightGBM or scikit-learn call dominates a one-row prediction). Nothing waits on a timer, so
a lone request is scored at once. Rows are independent, so each request gets the labels it
would get alone; probabilities can differ in the last bits (~1e-16), because the model library
takes other code paths for other batch sizes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from time import perf_counter

log = logging.getLogger(__name__)


def timed_predict(model, columns: list[str] | None, rows: list):
    """A `LoadedModel`'s predictions, probabilities and (transform, estimator) seconds.

    `columns` None: `rows` are records (mappings).
    """
    started = perf_counter()
    features = model.features(columns, rows)
    transformed = perf_counter()
    preds, proba = model.estimate(features)
    return preds, proba, (transformed - started, perf_counter() - transformed)


class MicroBatcher:
    """Coalesces `Batch` predictions per model within one event-loop iteration."""

    def __init__(self) -> None:
        self._queue: list[tuple[object, object, asyncio.Future]] = []
        self._scheduled = False
        self.calls = 0
        """Model calls made (each for one or more requests)."""
        self.requests = 0
        """Requests answered through the batcher."""

    async def predict(self, model, batch) -> tuple[list, list | None]:
        """Predictions of `model` for `batch`, computed together with concurrent requests."""
        preds, proba, _ = await self.predict_timed(model, batch)
        return preds, proba

    async def predict_timed(self, model, batch) -> tuple[list, list | None, tuple[float, float]]:
        """`predict`, and the seconds of the shared call's transform and estimator."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((model, batch, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        groups: dict[tuple, list] = defaultdict(list)
        for item in queue:
            model, batch, _ = item
            key = (id(model), None if batch.columns is None else tuple(batch.columns))
            groups[key].append(item)
        for items in groups.values():
            self._score(items)

    def _score(self, items: list) -> None:
        model, first, _ = items[0]
        self.calls += 1
        self.requests += len(items)
        try:
            rows = [r for _, b, _ in items for r in b.rows]
            preds, proba, times = timed_predict(model, first.columns, rows)
        except Exception as exc:  # noqa: BLE001 - isolate the failing request: score one by one
            if len(items) == 1:
                if not items[0][2].cancelled():
                    items[0][2].set_exception(exc)
                return
            for item in items:
                self._score([item])
            return
        start = 0
        for _, batch, future in items:
            end = start + len(batch)
            if not future.cancelled():
                future.set_result(
                    (preds[start:end], None if proba is None else proba[start:end], times)
                )
            start = end
