"""The one readable batch loop: decode -> transform -> encode -> sinks + output topic + DLQ.

``Pipeline.handle`` returns only when every record of the batch is stored in every sink,
produced to the output topic, or delivered to the DLQ; the fast-path consumer commits offsets
after it returns (conventions: commit order is fixed). Per-record failures in any stage become
DLQ records (or stop the worker when the topology says ``on_error="fail"``); failures of a
whole sink are retried with backoff behind a circuit breaker, holding the batch — and with it
consumption — until the sink is back (backpressure: memory stays one batch per topology plus
the consumer's prefetch buffer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamapp.decode import Decoder
from streamapp.dlq.budget import ErrorBudget
from streamapp.dlq.headers import FailureContext, build_headers, header_map, previous_attempt
from streamapp.encode.avro import RecordEncoder
from streamapp.errors import SinkError, StageError
from streamapp.observability.latency import LatencyHistogram
from streamapp.producer import BatchProducer
from streamapp.records import OutputRecord
from streamapp.sinks.base import Sink, TableSpec
from streamapp.sinks.resilience import BreakerPolicy, CircuitBreaker, RetryPolicy, retry
from streamapp.transform.compile import CompiledTopology

log = logging.getLogger("streamapp.pipeline")


@dataclass(slots=True)
class Counters:
    """Running totals of one pipeline, read by the progress line and metrics.

    ``latency`` holds, per output record, the time from the change in the source database
    (``source.ts_ms``) until every sink, the output topic and the DLQ had the batch.
    """

    events_in: int = 0
    records_out: int = 0
    failed: int = 0
    batches: int = 0
    last_source_ts_ms: int | None = None
    last_batch_seconds: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


class SinkWriter:
    """One sink bound to one topology's table, with retry, a breaker and backpressure."""

    def __init__(
        self, sink: Sink, table: TableSpec, *, retry_policy: RetryPolicy, breaker: CircuitBreaker
    ) -> None:
        self.sink = sink
        self.table = table
        self.retry_policy = retry_policy
        self.breaker = breaker
        self.name = f"{sink.kind}:{table.target}"

    async def write(self, records: Sequence[OutputRecord], stopping: asyncio.Event) -> list[Any]:
        """Store ``records``; waits (never drops) while the sink is unavailable."""
        warned = False
        while True:
            try:
                return await retry(
                    lambda: self.sink.write(self.table, records),
                    self.retry_policy,
                    breaker=self.breaker,
                )
            except SinkError as exc:
                if not exc.retriable or stopping.is_set():
                    raise
                if not warned:
                    log.warning(
                        "%s unavailable, holding the batch until it answers: %s", self.name, exc
                    )
                    warned = True
                await asyncio.sleep(max(self.breaker.retry_after(), 0.5))


class Pipeline:
    """Everything one topology does to a batch of raw records (see the module docstring)."""

    def __init__(
        self,
        topology: CompiledTopology,
        *,
        decoder: Decoder,
        encoder: RecordEncoder | None,
        writers: Sequence[SinkWriter],
        producer: BatchProducer,
        budget: ErrorBudget,
    ) -> None:
        self.topology = topology
        self.decoder = decoder
        self.encoder = encoder
        self.writers = list(writers)
        self.producer = producer
        self.budget = budget
        self.counters = Counters()
        self.stopping = asyncio.Event()
        self._fail_fast = topology.on_error == "fail"

    async def handle(self, batch: Mapping[Any, Sequence[Any]]) -> None:
        """Process one batch of aiokafka ConsumerRecords (partition -> records, in order)."""
        started = time.perf_counter()
        outputs, origins, messages, failures = self._process(batch)
        processed = time.perf_counter()
        self.budget.observe([False] * (self._count(batch) - len(failures)) + [True] * len(failures))
        if outputs:
            results = await asyncio.gather(*(w.write(outputs, self.stopping) for w in self.writers))
            position = {id(r): i for i, r in enumerate(outputs)} if any(results) else {}
            for writer, rejected in zip(self.writers, results, strict=True):
                for item in rejected:
                    failures.append((origins[position[id(item.record)]], item.error))
                    log.warning(
                        "%s rejected a record of %s: %s",
                        writer.name,
                        self.topology.name,
                        item.error,
                    )
        if self._fail_fast and failures:
            raise failures[0][1]
        topic = self.topology.output_topic
        for key, value in messages:
            self.producer.produce(topic, key, value)
        for record, error in failures:
            self._dead_letter(record, error)
        stored = time.perf_counter()
        await self.producer.flush()
        c = self.counters
        c.events_in += self._count(batch)
        c.records_out += len(outputs)
        c.failed += len(failures)
        c.batches += 1
        if outputs:
            stamps = [r.source_ts_ms for r in outputs if r.source_ts_ms is not None]
            if stamps:
                c.last_source_ts_ms = stamps[-1]
                c.latency.record_many(int(time.time() * 1000), stamps)
        c.last_batch_seconds = done = time.perf_counter() - started
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: batch of %d in %.0f ms (process %.0f, sinks %.0f, flush %.0f)",
                self.topology.name,
                self._count(batch),
                done * 1000,
                (processed - started) * 1000,
                (stored - processed) * 1000,
                (time.perf_counter() - stored) * 1000,
            )

    @staticmethod
    def _count(batch: Mapping[Any, Sequence[Any]]) -> int:
        return sum(len(records) for records in batch.values())

    def _process(
        self, batch: Mapping[Any, Sequence[Any]]
    ) -> tuple[
        list[OutputRecord],
        list[Any],
        list[tuple[bytes | None, bytes | None]],
        list[tuple[Any, StageError]],
    ]:
        """The CPU part: decode, transform, encode every record; collect per-record failures."""
        decode = self.decoder.decode
        process = self.topology.process
        encode = self.encoder.messages if self.encoder is not None else None
        outputs: list[OutputRecord] = []
        origins: list[Any] = []
        messages: list[tuple[bytes | None, bytes | None]] = []
        failures: list[tuple[Any, StageError]] = []
        for records in batch.values():
            for rec in records:
                try:
                    event = decode(
                        rec.key,
                        rec.value,
                        topic=rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                    )
                    produced = process(event)
                    if encode is not None:
                        encoded = [encode(out) for out in produced]
                except StageError as exc:
                    failures.append((rec, exc))
                    continue
                for out in produced:
                    outputs.append(out)
                    origins.append(rec)
                if encode is not None:
                    for pairs in encoded:
                        messages.extend(pairs)
        return outputs, origins, messages, failures

    def _dead_letter(self, rec: Any, error: StageError) -> None:
        original = [(k, v) for k, v in (rec.headers or ()) if v is not None]
        ctx = FailureContext(
            rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value, original
        )
        headers = build_headers(
            ctx,
            topology=self.topology.name,
            stage=error.stage,
            error=error,
            attempt=previous_attempt(header_map(original)) + 1,
            failed_at_ms=int(time.time() * 1000),
        )
        self.producer.produce(self.topology.dlq_topic, rec.key, rec.value, headers)


def default_writer(sink: Sink, table: TableSpec) -> SinkWriter:
    """A writer with the default retry policy and a breaker named after the sink."""
    return SinkWriter(
        sink,
        table,
        retry_policy=RetryPolicy(),
        breaker=CircuitBreaker(f"{sink.kind}:{table.target}", BreakerPolicy()),
    )
