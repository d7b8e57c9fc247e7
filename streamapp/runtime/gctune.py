"""The worker's garbage-collector settings: collect cycles without rescanning the whole heap.

A worker allocates a few container objects per event (rows, envelopes, records) and keeps up to
two batches of them alive, so with CPython's default thresholds the collector runs its
young-generation pass every ~90 events and its full pass over every object of the process —
Faust's service tree, the compiled topologies and everything else built at start-up — every
few batches. Measured on the pipeline bench that is about a seventh of the worker's CPU.

``tune`` therefore, once start-up is done:

* collects, then *freezes* what is alive (``gc.freeze``): those objects live as long as the
  process and are never scanned again;
* raises the young-generation threshold to ``gen0`` allocations (default 50,000; CPython's is
  700). Cycles are still found and freed, just in larger, rarer passes; memory held by garbage
  cycles stays bounded by that many objects per generation.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("streamapp.worker")

GEN0_MIN, GEN0_MAX = 700, 1_000_000


def tune(gen0: int) -> None:
    """Freeze the start-up heap and set the young-generation threshold to ``gen0``."""
    if not GEN0_MIN <= gen0 <= GEN0_MAX:
        raise ValueError(f"gen0 threshold {gen0} is outside {GEN0_MIN}..{GEN0_MAX}")
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
    log.debug(
        "gc: %d start-up objects frozen, thresholds %s", gc.get_freeze_count(), gc.get_threshold()
    )
