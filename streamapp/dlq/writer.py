"""Write one failed record to its topology's DLQ: context headers, sealed when a key is set."""

from __future__ import annotations

import time
from typing import Any, Protocol

from streamapp.dlq.headers import FailureContext, build_headers, header_map, previous_attempt
from streamapp.dlq.seal import Sealer
from streamapp.errors import StageError


class Producer(Protocol):
    """What the writer needs of :class:`streamapp.producer.BatchProducer`."""

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Any = None,
    ) -> None: ...


class DeadLetterWriter:
    """Queues DLQ records of one topology on the shared producer (the caller flushes).

    Guarantees: the DLQ record carries the original key, value and headers followed by the
    failure context (``build_headers``; the attempt is the record's previous one + 1); with a
    ``sealer`` the key, value and original headers are sealed (AES-256-GCM) and the headers say
    so, with the sealing key's id (``streamapp.dlq.sealed*``). The worker's pipeline and `dlq
    replay` (which runs the same pipeline) write through this class only.
    """

    def __init__(
        self, producer: Producer, topology: str, topic: str, sealer: Sealer | None = None
    ) -> None:
        self.producer = producer
        self.topology = topology
        self.topic = topic
        self.sealer = sealer

    def write(self, rec: Any, error: StageError) -> None:
        """Queue the DLQ record of ``rec`` (an aiokafka ConsumerRecord or ops Record)."""
        original = [(k, v) for k, v in (rec.headers or ()) if v is not None]
        ctx = FailureContext(
            rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value, original
        )
        headers = build_headers(
            ctx,
            topology=self.topology,
            stage=error.stage,
            error=error,
            attempt=previous_attempt(header_map(original)) + 1,
            failed_at_ms=int(time.time() * 1000),
        )
        key, value = rec.key, rec.value
        if self.sealer is not None:
            key, value, headers = self.sealer.seal(key, value, headers)
        self.producer.produce(self.topic, key, value, headers)
