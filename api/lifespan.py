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


def settle_heap(state: State, changed: bool) -> None:
    """Move everything alive now (the libraries, the loaded models) out of the GC's full passes.

    A full collection walks every tracked object: ~350k once MLflow, scikit-learn and a model
    are loaded, ~160 ms holding the GIL, which was the p99 of /predict under load. Frozen
    objects are never scanned; request garbage is still collected by the young generations.
    After a swap the old model is reclaimed by one full collection first (one pause per swap).
    """
    if not state.settings.freeze_heap:
        return
    if changed:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


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
