"""Getting re-snapshotted rows into the sinks: wait for the running worker, or apply them here.

``reconcile --repair`` asks Debezium to re-read rows; those rows reach the sinks through the
topology's change topic and a worker. With a worker in the group (``STREAMAPP_GROUP_ID``)
consuming the topic, repair waits until the group's committed offsets reach the topic's end
as it was once the snapshot finished (the worker commits only after every sink has the batch).
With no member in the group, repair does the worker's part for this topology itself: it runs
the topology's pipeline in this process (``ops.inprocess``, the worker's own runtime) from the
group's committed offsets to that end, then commits those offsets for the group, exactly as a
worker would have. An embedded chDB is only free to read while no worker holds it, so this is
also how a chDB sink gets repaired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from streamapp.ops import OpsError
from streamapp.ops.kafka import TP, Kafka
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology

Out = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Consumers:
    """Who consumes the topology's topics in the worker group: ``running`` True when a member
    is assigned one of them; ``others`` True when members exist but none holds them."""

    group: str
    running: bool
    others: bool
    described: str


def consumers(settings: Settings, topology: CompiledTopology) -> Consumers:
    """The worker group's members as they concern ``topology``'s source topics."""
    kafka = Kafka(settings)
    try:
        info = kafka.group(settings.group_id)
    finally:
        kafka.close()
    topics = set(topology.source_topics)
    mine = any(t in topics for m in info.members for t, _ in m.partitions)
    return Consumers(info.group, mine, bool(info.members) and not mine, info.describe())


def _ends(kafka: Kafka, topology: CompiledTopology) -> dict[TP, int]:
    return {
        (topic, p): kafka.watermarks(topic, p)[1]
        for topic in topology.source_topics
        for p in kafka.partitions(topic)
    }


def wait_for_worker(
    settings: Settings, topology: CompiledTopology, timeout: float, out: Out
) -> None:
    """Block until the worker group committed every partition of the topology's topics up to
    their current ends; OpsError after ``timeout`` seconds (naming the lagging partitions)."""
    kafka = Kafka(settings)
    try:
        ends = _ends(kafka, topology)
        deadline = time.monotonic() + timeout
        while True:
            committed = kafka.committed(settings.group_id, list(ends))
            behind = {
                tp: end - (committed.get(tp, (None, ""))[0] or 0)
                for tp, end in ends.items()
                if (committed.get(tp, (None, ""))[0] or 0) < end
            }
            if not behind:
                return
            if time.monotonic() > deadline:
                shown = ", ".join(f"{t}[{p}] {n:,} behind" for (t, p), n in behind.items())
                raise OpsError(
                    f"the worker group {settings.group_id!r} did not catch up within "
                    f"{timeout:.0f} s ({shown}); check the worker (`streamapp status`)"
                )
            time.sleep(0.5)
    finally:
        kafka.close()


def apply_here(settings: Settings, topology: CompiledTopology, out: Out) -> int:
    """Run ``topology``'s pipeline in this process over its topics from the group's committed
    offsets to their current ends, then commit those ends for the group; events handled.
    OpsError when the group gained a member meanwhile (Kafka refuses the commit)."""
    from streamapp.ops.inprocess import run_pipeline
    from streamapp.ops.reader import RangeReader

    kafka = Kafka(settings)
    try:
        ends = _ends(kafka, topology)
        committed = kafka.committed(settings.group_id, list(ends))
        ranges = {}
        for tp, end in ends.items():
            start = committed.get(tp, (None, ""))[0]
            if start is None:
                start = kafka.watermarks(*tp)[0]
            ranges[tp] = (start, end)
        reader = RangeReader(settings, ranges)
        if reader.total:
            out(f"  applying {reader.total:,} event(s) of {topology.name} in this process")
            counters = asyncio.run(run_pipeline(settings, topology, reader.batches()))
            handled = counters.events_in
        else:
            handled = 0
        kafka.commit(settings.group_id, {tp: end for tp, (_, end) in ranges.items()})
        return handled
    finally:
        kafka.close()
