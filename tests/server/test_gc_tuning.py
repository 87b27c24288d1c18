"""The server's garbage-collector tuning: startup objects frozen, rarer collections."""

from __future__ import annotations

import gc

from driftline.server.gc_tuning import THRESHOLDS, tune_for_serving


def test_tune_for_serving_freezes_startup_objects_and_raises_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_for_serving()
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] > before[0]
        assert gc.get_freeze_count() > 0
        # cycles made after startup are still collected
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
