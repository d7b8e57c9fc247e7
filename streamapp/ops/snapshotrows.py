"""Count the incremental-snapshot rows a connector appends to its change topics."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from streamapp.errors import StreamappError
from streamapp.ops import OpsError
from streamapp.ops.kafka import Kafka
from streamapp.records import EventKind, Op
from streamapp.settings import Settings


class SnapshotRows:
    """Reads each table's change topic from its end at construction on, and counts the
    records that are incremental-snapshot rows (op ``r``, ``source.snapshot=incremental``).

    Guarantees: never joins a group or commits (``assign`` only); a topic that does not exist
    yet is read from offset 0 once it appears; records that cannot be decoded are not counted
    (the worker routes them to its DLQ). ``drain`` reads up to the ends as of its call.
    """

    def __init__(self, settings: Settings, topics: Mapping[str, str]) -> None:
        from confluent_kafka import Consumer

        from streamapp.decode import Decoder
        from streamapp.kafkaconf import kafka_conf
        from streamapp.registry import SchemaRegistry

        self._kafka = Kafka(settings)
        self._registry = SchemaRegistry(settings.registry_url, settings=settings)
        self._decoder = Decoder(resolver=self._registry, needs_before=False)
        self._table = {topic: table for table, topic in topics.items()}
        self.counts = dict.fromkeys(topics, 0)
        self._next: dict[tuple[str, int], int] = {}
        self._consumer: Any = Consumer(
            kafka_conf(
                settings,
                {
                    "group.id": "streamapp-snapshot-count",
                    "enable.auto.commit": False,
                    "enable.partition.eof": False,
                },
            )
        )
        self._assign(at_end=True)

    def _assign(self, *, at_end: bool) -> None:
        """Assign every partition not yet assigned, at its end (at start-up) or at 0."""
        from confluent_kafka import TopicPartition

        added = False
        for topic in self._table:
            for part in self._kafka.partitions(topic, missing_ok=True):
                if (topic, part) not in self._next:
                    start = self._kafka.watermarks(topic, part)[1] if at_end else 0
                    self._next[(topic, part)] = start
                    added = True
        if added:
            self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in self._next.items()])

    def poll(self, budget: float = 0.5) -> Mapping[str, int]:
        """Count what arrives within ``budget`` seconds; the counts so far, per table."""
        self._assign(at_end=False)
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            msgs = self._consumer.consume(500, timeout=max(0.0, deadline - time.monotonic()))
            if not msgs:
                break
            for msg in msgs:
                self._count(msg)
        return dict(self.counts)

    def drain(self, timeout: float = 60.0) -> Mapping[str, int]:
        """Count up to each partition's end as of now; the final counts, per table."""
        self._assign(at_end=False)
        ends = {tp: self._kafka.watermarks(*tp)[1] for tp in self._next}
        deadline = time.monotonic() + timeout
        while any(self._next[tp] < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise OpsError(
                    f"could not read {', '.join(self._table)} to their ends within "
                    f"{timeout:.0f} s to count the re-delivered rows; check Kafka"
                )
            for msg in self._consumer.consume(500, timeout=0.5):
                self._count(msg)
        return dict(self.counts)

    def _count(self, msg: Any) -> None:
        if msg.error():
            return
        topic, part, offset = msg.topic(), msg.partition(), msg.offset()
        self._next[(topic, part)] = offset + 1
        if msg.value() is None:
            return
        try:
            event = self._decoder.decode(
                msg.key(), msg.value(), topic=topic, partition=part, offset=offset
            )
        except StreamappError:  # undecodable records are the worker's (DLQ) business
            return
        if (
            event.kind is EventKind.DATA
            and event.op is Op.READ
            and event.source is not None
            and event.source.snapshot == "incremental"
        ):
            self.counts[self._table[topic]] += 1

    def close(self) -> None:
        """Close the consumer and clients; idempotent."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
        self._kafka.close()
        self._registry.close()
