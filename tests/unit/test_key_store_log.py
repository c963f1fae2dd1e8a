"""The poller's key-store refresh: an unreadable store is logged once, its recovery too."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from litestar.datastructures import State

from api.lifespan import refresh_keys
from core.serving import keys


def test_an_unreadable_key_store_is_logged_once_until_it_changes(tmp_path, caplog):
    path = keys.store_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{}")  # not a key store
    state = State({"settings": SimpleNamespace(workspace=tmp_path)})

    with caplog.at_level(logging.WARNING, logger="api.lifespan"):
        for _ in range(5):  # five polls
            refresh_keys(state)
        failed = [r for r in caplog.records if "not refreshed" in r.getMessage()]
        assert len(failed) == 1 and "is not a key store" in failed[0].getMessage()

        path.unlink()  # the store is gone: no keys, readable again
        refresh_keys(state)
        refresh_keys(state)

    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("API key store readable again") == 1
    assert len([m for m in messages if "not refreshed" in m]) == 1
