"""Helpers for prediction-log tests (imported by name: `tests` is on `sys.path`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog


def prediction_record(
    request_id: str, prediction=1, at: str = "2024-01-01T00:00:00+00:00"
) -> PredictionRecord:
    """One logged prediction of a small fixed model and input."""
    return PredictionRecord(
        request_id=request_id,
        time=at,
        model_name="churn",
        model_version="3",
        variant="champion",
        inputs={"age": 42, "plan": "pro"},
        prediction=prediction,
        probability=0.8,
        latency_ms=1.5,
    )


def log_from_threads(
    log: PredictionLog,
    threads: int,
    per_thread: int,
    each: Callable[[int, int], None] | None = None,
) -> None:
    """Append `per_thread` records from each of `threads` threads, then close the log.

    Request ids are `<thread>-<i>`; `each(thread, i)` replaces the default append when given.
    """

    def worker(n: int) -> None:
        for i in range(per_thread):
            if each is None:
                log.append([prediction_record(f"{n}-{i}")])
            else:
                each(n, i)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    log.close()
