"""Read fixed offset ranges of partitions with a plain consumer, in batches, without a group."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from confluent_kafka import Consumer, TopicPartition

from streamapp.kafkaconf import kafka_conf
from streamapp.ops import OpsError

if TYPE_CHECKING:
    from streamapp.settings import Settings

TP = tuple[str, int]


class Record(NamedTuple):
    """One Kafka record with the attributes ``Pipeline.handle`` reads (aiokafka's names)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None  # ms since the epoch
    headers: tuple[tuple[str, bytes], ...]


def to_record(msg: Any) -> Record:
    """A confluent-kafka Message as a :class:`Record`."""
    kind, ts = msg.timestamp()
    headers = tuple((k, v) for k, v in (msg.headers() or ()) if v is not None)
    return Record(
        msg.topic(),
        msg.partition(),
        msg.offset(),
        msg.key(),
        msg.value(),
        ts if kind != 0 and ts >= 0 else None,
        headers,
    )


class RangeReader:
    """Reads ``[start, stop)`` of each given partition, then stops.

    ``batches()`` yields lists of records, in offset order within a partition, each at most
    ``batch_size`` long, until every partition has reached its ``stop`` (gaps left by
    compaction or transaction markers are fine: the consumer's position decides). OpsError
    when a partition makes no progress for ``stall_seconds``. Nothing is ever committed.
    """

    def __init__(
        self,
        settings: Settings,
        ranges: Mapping[TP, tuple[int, int]],
        *,
        batch_size: int = 500,
        stall_seconds: float = 60.0,
    ) -> None:
        self.ranges = {tp: r for tp, r in ranges.items() if r[0] < r[1]}
        self.batch_size = batch_size
        self.stall_seconds = stall_seconds
        self._consumer = Consumer(
            kafka_conf(
                settings,
                {
                    "group.id": "streamapp-ops-reader",
                    "enable.auto.commit": False,
                    "enable.partition.eof": False,
                    "auto.offset.reset": "earliest",
                },
            )
        )

    @property
    def total(self) -> int:
        """Offsets in all ranges: an upper bound of the records read."""
        return sum(stop - start for start, stop in self.ranges.values())

    def batches(self) -> Iterator[list[Record]]:
        """Yield batches until every range is read (see the class docstring)."""
        pending = dict(self.ranges)
        if not pending:
            return
        consumer: Any = self._consumer
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in pending.items()])
        last_progress = time.monotonic()
        try:
            while pending:
                msgs: list[Any] = consumer.consume(num_messages=self.batch_size, timeout=0.5)
                batch: list[Record] = []
                for msg in msgs:
                    if msg.error() is not None:
                        raise OpsError(
                            f"reading {msg.topic()}[{msg.partition()}] failed "
                            f"({msg.error().str()}); check the broker (`streamapp check`)"
                        )
                    tp = (msg.topic(), msg.partition())
                    bound = pending.get(tp)
                    if bound is not None and msg.offset() < bound[1]:
                        batch.append(to_record(msg))
                if batch:
                    last_progress = time.monotonic()
                    yield batch
                pending = self._still_pending(pending)
                if pending and time.monotonic() - last_progress > self.stall_seconds:
                    where = ", ".join(f"{t}[{p}]" for t, p in pending)
                    raise OpsError(
                        f"no records arrived for {self.stall_seconds:.0f}s from {where}; "
                        "check the broker and the topic's retention"
                    )
        finally:
            consumer.close()

    def _still_pending(self, pending: dict[TP, tuple[int, int]]) -> dict[TP, tuple[int, int]]:
        tps = [TopicPartition(t, p) for t, p in pending]
        positions = {(tp.topic, tp.partition): tp.offset for tp in self._consumer.position(tps)}
        done = [tp for tp, (_, stop) in pending.items() if positions.get(tp, -1) >= stop]
        if done:
            self._consumer.incremental_unassign([TopicPartition(t, p) for t, p in done])
        return {tp: r for tp, r in pending.items() if tp not in done}
