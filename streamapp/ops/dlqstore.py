"""A topology's DLQ topic: its partitions, its records, and the replay progress group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streamapp.ops import OpsError
from streamapp.ops.dlqentry import DlqEntry, parse_entry
from streamapp.ops.done import Done
from streamapp.ops.kafka import Kafka
from streamapp.ops.reader import RangeReader

if TYPE_CHECKING:
    from streamapp.dlq.seal import Sealer
    from streamapp.settings import Settings


def progress_group(group_id: str) -> str:
    """The consumer group that records `dlq replay` progress: ``<group>.dlq-replay``."""
    return f"{group_id}.dlq-replay"


@dataclass(slots=True)
class DlqState:
    """Watermarks and replay progress per DLQ partition (empty when the topic is missing)."""

    topic: str
    marks: dict[int, tuple[int, int]] = field(default_factory=dict)
    done: dict[int, Done] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return bool(self.marks)

    @property
    def depth(self) -> int:
        """Records stored in the DLQ (an upper bound: offsets, gaps included)."""
        return sum(end - low for low, end in self.marks.values())

    @property
    def replayed(self) -> int:
        """Of ``depth``, how many `dlq replay` has already taken."""
        return sum(self.done[p].count(low, end) for p, (low, end) in self.marks.items())

    def is_replayed(self, entry: DlqEntry) -> bool:
        """True when ``entry`` was replayed before."""
        done = self.done.get(entry.record.partition)
        return done is not None and entry.record.offset in done


def load_state(kafka: Kafka, topic: str, group: str) -> DlqState:
    """Watermarks of ``topic`` and the replay progress ``group`` committed for it."""
    state = DlqState(topic)
    partitions = kafka.partitions(topic, missing_ok=True)
    if not partitions:
        return state
    committed = kafka.committed(group, [(topic, p) for p in partitions])
    for p in partitions:
        low, end = kafka.watermarks(topic, p)
        state.marks[p] = (low, end)
        offset, metadata = committed.get((topic, p), (None, ""))
        state.done[p] = Done.parse(offset, metadata, low=low)
    return state


def read_entries(
    settings: Settings,
    state: DlqState,
    *,
    first: int | None = None,
    last: int | None = None,
    limit: int | None = None,
    sealer: Sealer | None = None,
) -> list[DlqEntry]:
    """DLQ records with offsets in ``[first, last]`` (each partition), in partition order, at
    most ``limit`` of them (those with the lowest offsets of each partition first); sealed
    records are opened with ``sealer`` (see :func:`streamapp.ops.dlqentry.unseal`)."""
    ranges = {}
    for p, (low, end) in state.marks.items():
        start = low if first is None else max(first, low)
        stop = end if last is None else min(last + 1, end)
        if limit is not None:
            stop = min(stop, start + limit)
        if start < stop:
            ranges[(state.topic, p)] = (start, stop)
    entries: list[DlqEntry] = []
    for batch in RangeReader(settings, ranges).batches():
        entries.extend(parse_entry(rec, sealer) for rec in batch)
    entries.sort(key=lambda e: (e.record.partition, e.record.offset))
    return entries if limit is None else entries[:limit]


def save_progress(kafka: Kafka, state: DlqState, group: str, partition: int) -> None:
    """Commit ``state.done[partition]`` for ``group``; OpsError when it cannot be tracked."""
    done = state.done[partition]
    try:
        metadata = done.metadata()
    except ValueError as exc:
        raise OpsError(f"DLQ {state.topic}[{partition}]: {exc}") from None
    tp = (state.topic, partition)
    kafka.commit(group, {tp: done.committed}, {tp: metadata})
