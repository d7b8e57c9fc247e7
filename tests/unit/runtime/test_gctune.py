"""gctune.tune: the start-up heap is frozen and the young-generation threshold raised."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streamapp.runtime import gctune


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restore_gc")
def test_tune_freezes_what_is_alive_and_sets_gen0() -> None:
    alive = [object() for _ in range(3)]  # noqa: F841 - alive during tune
    gen1, gen2 = gc.get_threshold()[1:]
    gctune.tune(50_000)
    assert gc.get_threshold() == (50_000, gen1, gen2)
    assert gc.get_freeze_count() > 1000  # the interpreter's and pytest's objects at least


@pytest.mark.usefixtures("restore_gc")
def test_cycles_are_still_collected_automatically() -> None:
    gctune.tune(700)

    class Node:
        ref: object = None

    node = Node()
    node.ref = node  # a cycle: only the collector frees it
    gone = weakref.ref(node)
    del node
    allocations = [[] for _ in range(5_000)]  # past the threshold: a collection runs by itself
    assert gone() is None
    assert len(allocations) == 5_000


@pytest.mark.parametrize("bad", [0, 699, 1_000_001])
def test_thresholds_outside_the_range_are_refused(bad: int) -> None:
    thresholds = gc.get_threshold()
    with pytest.raises(ValueError, match=r"outside 700\.\.1000000"):
        gctune.tune(bad)
    assert gc.get_threshold() == thresholds
