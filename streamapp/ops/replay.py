"""`streamapp replay`: plan, check the group, then move offsets or replay a bounded range."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from streamapp.ops import OpsError
from streamapp.ops.inprocess import run_pipeline
from streamapp.ops.kafka import TP, GroupInfo, Kafka
from streamapp.ops.parse import Position
from streamapp.ops.plan import PartitionPlan, render, resolve
from streamapp.ops.progressbar import ProgressBar
from streamapp.ops.reader import RangeReader, Record
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology

Print = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What the operator asked for (see `streamapp replay --help`)."""

    topology: CompiledTopology
    start: Position
    to: Position | None = None
    partitions: tuple[int, ...] | None = None
    dry_run: bool = False
    force: bool = False


def build_plan(
    kafka: Kafka, group: str, req: ReplayRequest, *, stop_at_committed: bool = False
) -> list[PartitionPlan]:
    """One PartitionPlan per selected partition of each source topic.

    ``stop_at_committed`` bounds an open-ended replay at the group's committed offsets (the
    forced replay beside live workers: they process everything after those themselves).
    """
    plans = []
    for topic in req.topology.source_topics:
        existing = kafka.partitions(topic)
        chosen = list(req.partitions) if req.partitions is not None else existing
        unknown = sorted(set(chosen) - set(existing))
        if unknown:
            raise OpsError(
                f"topic {topic!r} has no partition(s) {unknown}; it has {existing}; "
                "fix --partitions"
            )
        committed = kafka.committed(group, [(topic, p) for p in chosen])
        starts = _by_time(kafka, topic, chosen, req.start)
        stops = _by_time(kafka, topic, chosen, req.to)
        for p in chosen:
            low, end = kafka.watermarks(topic, p)
            done = committed.get((topic, p), (None, ""))[0]
            target = resolve(req.start, low=low, end=end, by_time=starts.get(p))
            if req.to is not None:
                stop = resolve(req.to, low=low, end=end, by_time=stops.get(p))
            elif stop_at_committed:
                stop = low if done is None else min(max(done, low), end)
            else:
                stop = end
            plans.append(PartitionPlan(topic, p, low, end, done, target, max(stop, target)))
    return plans


def _by_time(
    kafka: Kafka, topic: str, partitions: Sequence[int], pos: Position | None
) -> dict[int, int]:
    if pos is None or pos.kind != "timestamp":
        return {}
    return kafka.offsets_for_time(topic, partitions, pos.value)


def run_replay(settings: Settings, req: ReplayRequest, out: Print = print) -> int:
    """Carry out ``req``; returns the exit code (1 when refused). See the command's --help."""
    kafka = Kafka(settings)
    try:
        return _replay(settings, kafka, req, out)
    finally:
        kafka.close()


def _replay(settings: Settings, kafka: Kafka, req: ReplayRequest, out: Print) -> int:
    group = settings.group_id
    info = kafka.group(group)
    beside_workers = bool(info.members) and req.force
    bounded = req.to is not None or beside_workers
    plans = build_plan(kafka, group, req, stop_at_committed=beside_workers)
    span = f"from {req.start}" + (f" to {req.to}" if req.to is not None else "")
    out(f"replay {req.topology.name} {span}; group {group!r}: {info.describe()}")
    for line in render(plans, bounded=bounded):
        out("  " + line)
    if info.members and not req.force:
        out(_refusal(info, dry_run=req.dry_run))
        return 0 if req.dry_run else 1
    if req.dry_run:
        out("dry run: " + _intent(plans, req, beside_workers) + "; nothing changed")
        return 0
    if not bounded:
        kafka.commit(group, {(p.topic, p.partition): p.target for p in plans})
        total = sum(p.events for p in plans)
        out(f"moved group {group!r} to the target offsets; its workers will process {total} events")
        return 0
    _process(settings, req.topology, plans, out)
    if beside_workers:
        out(f"left group {group!r} where its workers keep it (it has active members)")
        return 0
    kafka.commit(group, {(p.topic, p.partition): p.stop for p in plans})
    moved = ", ".join(f"{p.topic}[{p.partition}]={p.stop}" for p in plans)
    out(f"committed the --to offsets for group {group!r}: {moved}")
    return 0


def _refusal(info: GroupInfo, *, dry_run: bool) -> str:
    verb = "would refuse" if dry_run else "refusing"
    return (
        f"{verb}: group {info.group!r} has {len(info.members)} active member(s) and Kafka does "
        "not let anyone outside a live group move its offsets; stop the workers first, or use "
        "--force to replay in this process up to the group's committed offsets (or --to) while "
        "they run (versioned sinks converge), leaving the group's offsets alone"
    )


def _intent(plans: Sequence[PartitionPlan], req: ReplayRequest, beside_workers: bool) -> str:
    total = sum(p.events for p in plans)
    if beside_workers:
        return f"would process {total} events in this process beside the running workers"
    if req.to is None:
        return f"would move the group to the target offsets ({total} events to process)"
    return f"would process {total} events in this process, then commit the --to offsets"


def _process(
    settings: Settings, topology: CompiledTopology, plans: Sequence[PartitionPlan], out: Print
) -> None:
    ranges = {(p.topic, p.partition): (p.target, p.stop) for p in plans}
    reader = RangeReader(settings, ranges)
    bar = ProgressBar(f"replay {topology.name}", reader.total)
    position: dict[TP, int] = {tp: start for tp, (start, _) in reader.ranges.items()}

    def advanced(batch: Sequence[Record]) -> None:
        before = sum(position.values())
        for rec in batch:
            position[(rec.topic, rec.partition)] = rec.offset + 1
        bar.advance(sum(position.values()) - before)

    def batches() -> Iterator[list[Record]]:
        for i, batch in enumerate(reader.batches()):
            if i == 0:
                bar.restart()  # the rate and ETA leave out start-up (sinks, schemas)
            yield batch

    started = time.monotonic()
    try:
        counters = asyncio.run(run_pipeline(settings, topology, batches(), after_batch=advanced))
        bar.done = bar.total  # every range was read to its end (gaps are markers/compaction)
    finally:
        bar.finish()
    out(
        f"replayed {counters.events_in} events in {time.monotonic() - started:.1f}s: "
        f"{counters.records_out} records to the sinks, {counters.failed} to the DLQ"
    )
