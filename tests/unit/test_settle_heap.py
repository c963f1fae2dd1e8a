"""The server process's heap: frozen after a model load, young objects collected less often."""

import gc
from types import SimpleNamespace

from litestar.datastructures import State

from api.lifespan import GC_THRESHOLDS, restore_heap, settle_heap


def _state(freeze_heap: bool) -> State:
    return State({"settings": SimpleNamespace(freeze_heap=freeze_heap)})


def test_a_server_process_freezes_its_heap_and_collects_young_objects_less_often():
    before = gc.get_threshold()
    try:
        state = _state(freeze_heap=True)
        settle_heap(state, changed=False)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > before[0]
        settle_heap(state, changed=True)  # a swap keeps the process's own thresholds to restore
        restore_heap(state)  # the app stopped: a test process goes on with its own
        assert gc.get_threshold() == before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_apps_built_in_tests_keep_the_collectors_defaults():
    before = gc.get_threshold()
    gc.unfreeze()
    settle_heap(_state(freeze_heap=False), changed=True)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
