"""Run one topology's pipeline in this process over records read by an operations command."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from streamapp.ops.reader import Record
from streamapp.pipeline import Counters
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology


def by_partition(records: Sequence[Any]) -> dict[tuple[str, int], list[Any]]:
    """Records grouped by (topic, partition), order kept: the batch shape ``handle`` takes."""
    batch: dict[tuple[str, int], list[Any]] = {}
    for rec in records:
        batch.setdefault((rec.topic, rec.partition), []).append(rec)
    return batch


async def run_pipeline(
    settings: Settings,
    topology: CompiledTopology,
    batches: Iterable[Sequence[Record]],
    *,
    after_batch: Callable[[Sequence[Record]], None] | None = None,
) -> Counters:
    """Send every batch through the topology exactly like a worker does, then close everything.

    The runtime is the worker's (``build_runtime``): sinks are started and their tables
    ensured first; each batch is decoded, transformed, encoded, written to every sink and the
    output topic, failures go to the DLQ, and ``handle`` returns only when all of that is
    durable, after which ``after_batch`` runs (the place to record progress). An exception
    (a sink that stays down, ``on_error="fail"``, the error budget) stops the run: batches
    already handled stay applied, the failed one is not acknowledged to ``after_batch``.
    No aggregate is kept here: the running worker's table readers keep them from the topics.
    """
    from streamapp.runtime.worker import build_runtime

    runtime = build_runtime(settings, topologies=[topology], aggregates=())
    try:
        await runtime.start()
        pipeline = runtime.pipelines[0]
        for batch in batches:
            if batch:
                await pipeline.handle(by_partition(batch))
                if after_batch is not None:
                    after_batch(batch)
        return pipeline.counters
    finally:
        await runtime.close()
