"""The app's life: first load, the alias poller, hot swaps and the heap, a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import anyio
from litestar import Litestar
from litestar.datastructures import State

from api.guards import keyring
from core.errors import WorkbenchError, one_line

log = logging.getLogger(__name__)


GC_THRESHOLDS = (20_000, 20, 100)
"""The server process's collection thresholds once its heap is frozen (Python's: 700, 10, 10).

What a request leaves alive until the prediction log's next flush (its decoded records, answers,
`LoggedRequest`) kept the youngest generation filling: at 700 the server ran ~1,000 young and
~100 middle collections in 30 s of load (single records and 1,000-record batches), ~1 s of
pauses holding the GIL; at 20,000 two, ~40 ms. Server against server, interleaved, two rounds
(2 shared cores): single-record p99 at c=32 34-63 ms against 203-645 ms, 1,000-record batches
17-24k rows/s against 6-9k, CPU per request within the noise. Request garbage is freed by
reference counting either way; the collector only finds cycles."""


def settle_heap(state: State, changed: bool) -> None:
    """Move everything alive now (the libraries, the loaded models) out of the GC's full passes.

    A full collection walks every tracked object: ~350k once MLflow, scikit-learn and a model
    are loaded, ~160 ms holding the GIL, which was the p99 of /predict under load. Frozen
    objects are never scanned; request garbage is still collected by the young generations,
    less often (`GC_THRESHOLDS`). After a swap the old model is reclaimed by one full
    collection first (one pause per swap).
    """
    if not state.settings.freeze_heap:
        return
    if changed:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
    if state.get("gc_thresholds") is None:  # what the process had: `restore_heap` puts it back
        state["gc_thresholds"] = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)


def restore_heap(state: State) -> None:
    """The collector's thresholds from before `settle_heap` (the app stops; tests go on)."""
    thresholds = state.get("gc_thresholds")
    if thresholds is not None:
        gc.set_threshold(*thresholds)
        state["gc_thresholds"] = None


async def refresh(state: State) -> bool:
    """Check the registry aliases now and swap in any new version; whether one changed."""
    changed = await anyio.to_thread.run_sync(state.store.check)
    state.metrics.show_models(state.store)
    if changed:
        settle_heap(state, changed=True)
    return changed


def refresh_keys(state: State) -> None:
    """Write the keys' `last_used` times and re-read the key store if it changed.

    A store that cannot be read or written is logged and the keys read before stay in force
    (the poller must go on checking the models). The same error is logged once, not at every
    poll; a recovery is logged too.
    """
    ring = keyring(state)
    if ring is None:
        return
    try:
        ring.refresh()
    except (OSError, WorkbenchError) as exc:
        error = one_line(exc)
        if state.get("key_store_error") != error:
            log.error("API key store not refreshed: %s (logged once until it changes)", error)
        state["key_store_error"] = error
        return
    if state.get("key_store_error"):
        log.warning("API key store readable again")
        state["key_store_error"] = None


async def _poll(state: State) -> None:
    while True:
        await anyio.sleep(state.settings.poll_seconds)
        await refresh(state)
        await anyio.to_thread.run_sync(refresh_keys, state)


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Load the served models, start the log and the poller; on exit drain both."""
    state = app.state
    await anyio.to_thread.run_sync(keyring, state)  # read the key store before serving
    await anyio.to_thread.run_sync(state.store.check)
    state.metrics.show_models(state.store)
    settle_heap(state, changed=False)
    if state.log is not None:
        state.log.start()
    poller = asyncio.get_running_loop().create_task(_poll(state))
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        background = state.service.background
        if background:
            await asyncio.gather(*background, return_exceptions=True)
        if state.log is not None:
            await anyio.to_thread.run_sync(state.log.close)  # SIGTERM loses nothing
        await anyio.to_thread.run_sync(refresh_keys, state)  # the last `last_used` times
        restore_heap(state)
