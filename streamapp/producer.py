"""One Kafka producer per worker for output topics and DLQs: produce many, then await them all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, Producer

from streamapp.errors import StreamappError
from streamapp.kafkaconf import kafka_conf

if TYPE_CHECKING:
    from streamapp.settings import Settings


class DeliveryError(StreamappError):
    """Kafka did not acknowledge a record; the batch is not committed and will be re-delivered."""


class BatchProducer:
    """Idempotent producer (acks=all): ``produce`` queues, ``flush`` waits for every delivery.

    ``flush`` raises DeliveryError if any record queued since the last flush was not
    acknowledged, so a caller that commits offsets only after ``flush`` returned never commits
    a record whose output or DLQ copy is missing.
    """

    def __init__(self, settings: Settings, *, client_id: str = "streamapp") -> None:
        self._producer = Producer(
            kafka_conf(
                settings,
                {
                    "client.id": client_id,
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "batch.num.messages": 10000,
                    "queue.buffering.max.messages": 200000,
                    # one callback for all records, called only for failed deliveries: a Python
                    # call per acknowledged record would cost more than producing it
                    "on_delivery": self._on_delivery,
                    "delivery.report.only.error": True,
                },
            )
        )
        self._errors: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: object) -> None:
        if err is not None:
            self._errors.append(f"{err.name()}: {err.str()}")

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        """Queue one record (blocks briefly, serving callbacks, when the local queue is full)."""
        header_list = list(headers) if headers else None
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=header_list)
                return
            except BufferError:
                self._producer.poll(0.05)

    def produce_many(
        self, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]
    ) -> None:
        """Queue ``(key, value)`` records without headers, in order (as ``produce`` each)."""
        produce = self._producer.produce
        for key, value in messages:
            try:
                produce(topic, value, key)
            except BufferError:
                self.produce(topic, key, value)

    async def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued record is acknowledged; DeliveryError otherwise."""
        remaining = await asyncio.to_thread(self._producer.flush, timeout)
        errors, self._errors = self._errors, []
        if remaining:
            raise DeliveryError(
                f"{remaining} record(s) not acknowledged by Kafka within "
                f"{timeout:.0f}s; is the broker reachable?"
            )
        if errors:
            raise DeliveryError(f"{len(errors)} record(s) rejected by Kafka, first: {errors[0]}")

    def close(self) -> None:
        self._producer.flush(10)
