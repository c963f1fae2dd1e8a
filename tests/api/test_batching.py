"""Micro-batching: concurrent requests share model calls and get their own exact answers."""

from __future__ import annotations

import asyncio

import pytest
from test_api import _records

from api.batching import MicroBatcher
from api.model_store import ModelStore
from api.validation import Batch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion(trained_template):
    from core.workspace import Workspace

    ws = Workspace.open(trained_template)
    store = ModelStore(ws.config.model_name, ws.tracking_uri)
    store.check()
    assert store.champion.compiled is not None
    return store.champion, _records(ws, 40)


def test_concurrent_requests_share_calls_and_get_their_own_predictions(champion):
    model, records = champion
    batcher = MicroBatcher()
    columns = list(records[0])
    batches = [Batch(None, [r]) for r in records[:20]]  # records payloads
    batches += [Batch(columns, [[r[c] for c in columns]]) for r in records[20:]]  # columnar

    async def run():
        return await asyncio.gather(*(batcher.predict(model, b) for b in batches))

    answers = asyncio.run(run())
    alone = [b.predict(model) for b in batches]
    assert [a[0] for a in answers] == [a[0] for a in alone]
    assert [a[1][0] for a in answers] == pytest.approx([a[1][0] for a in alone], abs=1e-12)
    assert batcher.requests == 40
    assert batcher.calls == 2  # one call per payload form, not 40


def test_a_failing_request_fails_alone(champion):
    model, records = champion
    batcher = MicroBatcher()
    # Bypasses validation on purpose. The model takes any scalar as a raw value (what does not
    # parse is missing, as in training), so only a non-scalar makes it fail.
    broken = dict(records[0], carrier=["not", "a", "scalar"])

    async def run():
        good = [batcher.predict(model, Batch(None, [r])) for r in records[:5]]
        bad = batcher.predict(model, Batch(None, [broken]))
        return await asyncio.gather(*good, bad, return_exceptions=True)

    *good, bad = asyncio.run(run())
    assert isinstance(bad, TypeError | ValueError)
    assert [g[0] for g in good] == [Batch(None, [r]).predict(model)[0] for r in records[:5]]
