"""The one readable batch loop: decode -> transform -> encode -> sinks + output topic + DLQ.

A batch is a list of input records (every partition's records, in order) and goes through
explicit steps; every step reports per-record outcomes *by input position*, never by identity:

1. ``prepare`` (CPU only, no I/O): decode, transform, encode. Yields ``outputs`` with, for each,
   the position of the input record it came from (``origins``), the encoded output-topic
   messages, and ``failures`` keyed by input position (stage and error).
2. ``store``: first every sink's ``precheck`` (pure, no I/O) names the outputs it would refuse
   for their content; an input record with such an output reaches no sink and no output topic
   (it goes to the DLQ whole, not half-stored by the sinks that would have taken it). Then every
   sink writes the remaining outputs while the output topic's records are flushed; a sink's
   content refusals that only its server finds come back as output positions (several when the
   sink merged records of one key), mapped through ``origins`` to input positions and added to
   ``failures``.
3. route: ``ErrorRouting`` (dlq/routing.py), the one error policy, counts every input record's
   outcome in order against the error budget, raises under ``on_error="fail"``, and returns the
   failures in order; each input record reaches the DLQ once, with its first error.
4. DLQ records are produced and flushed. ``store`` returns only when all of it is durable; the
   fast-path consumer commits offsets after it returns (conventions: commit order is fixed).

The consumer may prepare a topology's next batch while this one is stored; ``prepare`` yields to
the event loop every ``CHUNK`` records so that the store's steps (thread results, flushes) are
not kept waiting behind it. Failures of a whole sink are retried with backoff behind a circuit
breaker, holding the batch until the sink is back (see runtime/fastpath.py for how consumption
pauses meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from streamapp.decode import Decoder
from streamapp.decode.drift import SchemaEvolution
from streamapp.dlq.budget import ErrorBudget
from streamapp.dlq.routing import ErrorRouting
from streamapp.dlq.writer import DeadLetterWriter
from streamapp.encode.avro import RecordEncoder
from streamapp.errors import RegistryUnavailableError, SinkError, StageError
from streamapp.observability.latency import LatencyHistogram
from streamapp.observability.metrics import Metrics
from streamapp.producer import BatchProducer
from streamapp.records import OutputRecord
from streamapp.sinks.base import Sink, TableSpec
from streamapp.sinks.resilience import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    retry,
)
from streamapp.state.oldkey import OldKeys
from streamapp.state.registry import Tables
from streamapp.state.table import Table
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.lookup import LookupMissing
from streamapp.types import FieldType

log = logging.getLogger("streamapp.pipeline")

# (pipeline, added source columns, where they were seen) -> the columns carried, or refused
Evolve = Callable[["Pipeline", Mapping[str, FieldType], str], Awaitable[None]]
# (input records, stored outputs, their input positions): runs once a batch is stored, before
# its offsets are committed (state.reemit: facts re-emitted after a dimension change)
AfterStore = Callable[[Sequence[Any], Sequence[OutputRecord], Sequence[int]], Awaitable[None]]


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


CHUNK = 250  # records prepared between yields to the event loop (~8 ms of CPU here)
PHASE = 125  # records that go through one stage before the next stage starts (see _process)


class Prepared(NamedTuple):
    """A batch after decode/transform/encode, ready for ``Pipeline.store``."""

    batch: Mapping[Any, Sequence[Any]]
    records: list[Any]  # the input records, every partition's in order: positions index these
    outputs: list[OutputRecord]
    origins: list[int]  # for each output, the position of the input record it came from
    messages: list[tuple[bytes | None, bytes | None]]  # encoded output-topic messages
    message_origins: list[int]  # for each message, the position of its input record
    failures: dict[int, StageError]  # input position -> the first failure of that record
    started: float


_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class SinkWriter:
    """One sink bound to one topology's table, with retry, a breaker and backpressure."""

    def __init__(
        self, sink: Sink, table: TableSpec, *, retry_policy: RetryPolicy, breaker: CircuitBreaker
    ) -> None:
        self.sink = sink
        self.table = table
        self.retry_policy = retry_policy
        self.breaker = breaker
        self.name = sink.labels(table)[1]
        self.metrics: Metrics | None = None

    def precheck(self, records: Sequence[OutputRecord]) -> list[Any]:
        """The sink's content refusals found without I/O (see ``Sink.precheck``)."""
        return self.sink.precheck(self.table, records)

    @property
    def deferred(self) -> bool:
        """True when the sink stages writes and makes them durable later (``barrier``)."""
        return self.sink.deferred

    def barrier(self) -> Awaitable[Any]:
        """A deferred sink: done once everything staged for this table so far is durable."""
        return self.sink.barrier(self.table)

    async def write(self, records: Sequence[OutputRecord], stopping: asyncio.Event) -> list[Any]:
        """Store ``records`` (a deferred sink: stage them, durable at ``barrier``); waits, never
        drops, while the sink is unavailable."""
        started = time.perf_counter()
        try:
            return await self._write(records, stopping)
        finally:
            m = self.metrics
            if m is not None:
                labels = (self.table.topology, self.name)
                m.sink_seconds.labels(*labels).observe(time.perf_counter() - started)
                m.breaker_state.labels(*labels).set(_BREAKER_VALUE[self.breaker.state])

    async def _write(self, records: Sequence[OutputRecord], stopping: asyncio.Event) -> list[Any]:
        warned = False
        call = self.sink.stage if self.sink.deferred else self.sink.write
        while True:
            try:
                return await retry(
                    lambda: call(self.table, records),
                    self.retry_policy,
                    breaker=self.breaker,
                )
            except SinkError as exc:
                if self.metrics is not None:
                    self.metrics.sink_errors.labels(self.table.topology, self.name).inc()
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
        metrics: Metrics | None = None,
        evolver: Evolve | None = None,
        dead_letters: DeadLetterWriter | None = None,
        tables: Tables | None = None,
    ) -> None:
        self.topology = topology
        self.tables = tables  # the worker's materialised tables (lookups, TOAST fill)
        self.dead_letters = dead_letters  # None: a clear-text writer, made when first needed
        self.evolver = evolver
        self.decoder = decoder
        self.encoder = encoder
        self.writers = list(writers)
        self.producer = producer
        self.budget = budget
        self.routing = ErrorRouting(budget, fail_fast=topology.on_error == "fail")
        self.holding = False  # True while prepare waits for the schema registry to answer
        self.registry_retry_delay = 0.5  # seconds before the first retry; doubles up to 30
        self.counters = Counters()
        self.stopping = asyncio.Event()
        self._fail_fast = topology.on_error == "fail"
        self.metrics = metrics
        self._oldkeys: OldKeys | None = None
        # as_of="current" lookups (wired by state.reemit): the lane's version rule, and what
        # runs after this pipeline stored a batch (facts of other topologies re-emitted)
        self.stamp: Callable[[list[OutputRecord]], list[OutputRecord]] | None = None
        self.after_store: list[AfterStore] = []
        for writer in self.writers:
            writer.metrics = metrics

    async def handle(self, batch: Mapping[Any, Sequence[Any]]) -> None:
        """Prepare and store one batch of aiokafka ConsumerRecords (partition -> records),
        durable in every sink on return."""
        later = await self.store(await self.prepare(batch))
        if later is not None:
            await later

    async def flush(self) -> None:
        """Make what deferred sinks staged durable now (revocation, stop)."""
        await asyncio.gather(*(w.sink.flush() for w in self.writers if w.deferred))

    async def prepare(self, batch: Mapping[Any, Sequence[Any]]) -> Prepared:
        """Decode, transform and encode every record; no I/O. Yields to the event loop every
        ``CHUNK`` records so that a concurrent ``store`` of the previous batch keeps moving.
        Under ``on_error="fail"`` raises the first failure here already (nothing is stored).

        With tables (lookups, or a materialised topology's TOAST fill), the batch first waits
        until those tables reflect their topics as of now (``Tables.barrier``). A lookup with
        ``missing="wait"`` that found no row holds the batch until the table has the missing
        keys (``wait_seconds`` at most), then the batch is prepared again; a key still missing
        then is that record's TransformError (to the DLQ)."""
        records = [rec for part in batch.values() for rec in part]
        started = time.perf_counter()
        await self._prefetch(records)
        tables = self.tables
        if tables is None:
            return await self._prepare(batch, records, started)
        await tables.barrier(self.topology)
        acc = await self._prepare(batch, records, started)
        missing: dict[str, list[tuple[Any, ...]]] = {}
        for error in acc.failures.values():
            if isinstance(error, LookupMissing):
                missing.setdefault(error.table, []).append(error.key)
        if not missing:
            return acc
        deadline = time.monotonic() + self.topology.wait_seconds
        self.holding = True  # waiting on purpose, not stuck
        try:
            await tables.wait_for(missing, deadline)
        finally:
            self.holding = False
        return await self._prepare(batch, records, started)

    async def _prepare(
        self, batch: Mapping[Any, Sequence[Any]], records: list[Any], started: float
    ) -> Prepared:
        acc = Prepared(batch, records, [], [], [], [], {}, started)
        start = 0
        while start < len(records):
            done, evolution = self._process(records, start, min(start + CHUNK, len(records)), acc)
            start = done
            if evolution is not None:  # new source columns: add them, then go on
                await self._evolve(evolution)
            await asyncio.sleep(0)
        if self._fail_fast and acc.failures:
            raise acc.failures[min(acc.failures)]
        return acc

    async def store(self, p: Prepared) -> Awaitable[Any] | None:
        """Every sink's precheck first (records some sink refuses by its own rules reach no
        sink and no topic); the output topic's records are queued and their flush runs while
        every sink writes (concurrently); then every record's outcome is routed (budget,
        fail-fast, DLQ) and DLQ records are flushed. Returns when all of it is durable, except
        in deferred sinks (``Sink.deferred``), which staged the batch: then it returns their
        barrier, and the batch may be committed once that resolves; else None, and the caller
        may commit it now. (PostgreSQL's and Redis's prechecks repeat their write's checks: a
        few µs per record for those sinks only.)"""
        stored_at = time.perf_counter()
        failures = p.failures
        outputs, origins, messages = p.outputs, p.origins, p.messages
        if outputs and self.writers:
            outputs, origins, messages = self._precheck(p)
        topic = self.topology.output_topic
        if topic is not None:  # None: no output topic declared, and no encoder made messages
            self.producer.produce_many(topic, messages)
        delivered = asyncio.ensure_future(self.producer.flush())
        try:
            later: Awaitable[Any] | None = None
            if outputs:
                results = await asyncio.gather(
                    *(w.write(outputs, self.stopping) for w in self.writers)
                )
                deferred = [w.barrier() for w in self.writers if w.deferred]
                if deferred:
                    later = asyncio.gather(*deferred)
                for rejected in results:
                    for item in rejected:
                        for position in item.positions:
                            failures.setdefault(origins[position], item.error)
            flushed_at = time.perf_counter()
            dead = self.routing.route(len(p.records), failures)
            await delivered
        finally:
            if not delivered.done():
                delivered.cancel()
            elif not delivered.cancelled():
                delivered.exception()  # retrieved: a sink's error, if any, is the one raised
        records = p.records
        for position, error in dead:
            self._dead_letter(records[position], error)
        if dead:
            first, error = records[dead[0][0]], dead[0][1]
            log.warning(
                "%d record(s) to the DLQ %s; first: %s: %s",
                len(dead),
                self.topology.dlq_topic,
                type(error).__name__,
                error,
                extra={
                    "topology": self.topology.name,
                    "topic": first.topic,
                    "partition": first.partition,
                    "offset": first.offset,
                    "stage": error.stage,
                },
            )
            await self.producer.flush()
        self._count_done(p, outputs, stored_at, flushed_at)
        for hook in self.after_store:  # a failure fails the batch: it is re-delivered
            await hook(records, outputs, origins)
        return later

    async def reemit(
        self, causes: Sequence[Any], outputs: Sequence[OutputRecord], origins: Sequence[int]
    ) -> None:
        """Encode and store ``outputs`` made outside this pipeline's lane (facts re-emitted
        after a change of ``causes[origins[i]]``, another topology's input records) through
        the same path as a batch: sinks, output topic, error routing and DLQ (a refused row
        sends its cause to this topology's DLQ)."""
        used = sorted(set(origins))
        where = {position: i for i, position in enumerate(used)}
        records = [causes[position] for position in used]
        p = Prepared({}, records, [], [], [], [], {}, time.perf_counter())
        encode = self.encoder.messages if self.encoder is not None else None
        for out, position in zip(outputs, origins, strict=True):
            origin = where[position]
            if origin in p.failures:
                continue
            try:
                encoded = encode(out) if encode is not None else []
            except StageError as exc:
                p.failures[origin] = exc
                continue
            p.outputs.append(out)
            p.origins.append(origin)
            p.messages.extend(encoded)
            p.message_origins.extend([origin] * len(encoded))
        later = await self.store(p)
        if later is not None:  # the cause's offsets are committed after this returns
            await later

    def _precheck(
        self, p: Prepared
    ) -> tuple[list[OutputRecord], list[int], list[tuple[bytes | None, bytes | None]]]:
        """Outputs, their origins and the messages left once every input record that has an
        output some sink refuses by its own rules (found without I/O) is failed whole."""
        refused: dict[int, StageError] = {}  # input position -> the first refusal
        origins = p.origins
        for writer in self.writers:
            for item in writer.precheck(p.outputs):
                for position in item.positions:
                    refused.setdefault(origins[position], item.error)
        if not refused:
            return p.outputs, origins, p.messages
        for position, error in refused.items():
            p.failures.setdefault(position, error)
        keep = [i for i, o in enumerate(origins) if o not in refused]
        messages = [
            m for m, o in zip(p.messages, p.message_origins, strict=True) if o not in refused
        ]
        return [p.outputs[i] for i in keep], [origins[i] for i in keep], messages

    def _count_done(
        self, p: Prepared, outputs: list[OutputRecord], stored_at: float, flushed_at: float
    ) -> None:
        c = self.counters
        count = self._count(p.batch)
        c.events_in += count
        c.records_out += len(outputs)
        c.failed += len(p.failures)
        c.batches += 1
        stamps = [r.source_ts_ms for r in outputs if r.source_ts_ms is not None]
        if stamps:
            c.last_source_ts_ms = stamps[-1]
            c.latency.record_many(int(time.time() * 1000), stamps)
        now = time.perf_counter()
        c.last_batch_seconds = now - p.started
        m = self.metrics
        if m is not None:
            name = self.topology.name
            m.events_in.labels(name).inc(count)
            m.records_out.labels(name).inc(len(outputs))
            m.dlq.labels(name).inc(len(p.failures))
            for error in p.failures.values():
                m.failed.labels(name, error.stage).inc()
            m.batch_size.labels(name).observe(count)
            m.batch_seconds.labels(name, "prepare").observe(stored_at - p.started)
            m.batch_seconds.labels(name, "store").observe(now - stored_at)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: batch of %d: prepared in %.0f ms, stored in %.0f ms (sinks %.0f, flush %.0f)",
                self.topology.name,
                count,
                (stored_at - p.started) * 1000,
                (now - stored_at) * 1000,
                (flushed_at - stored_at) * 1000,
                (now - flushed_at) * 1000,
            )

    @staticmethod
    def _count(batch: Mapping[Any, Sequence[Any]]) -> int:
        return sum(len(records) for records in batch.values())

    async def _prefetch(self, records: Sequence[Any]) -> None:
        """Resolve the batch's writer schemas off the event loop; while the registry does not
        answer, hold the batch and retry with backoff (an outage is never a record's fault,
        so nothing goes to the DLQ and the worker does not stop)."""
        delay, warned = self.registry_retry_delay, False
        while True:
            try:
                await self.decoder.prefetch(records)
            except RegistryUnavailableError as exc:
                if self.stopping.is_set():
                    self.holding = False
                    raise
                self.holding = True  # the consumer's liveness: waiting on purpose, not stuck
                if not warned:
                    log.warning(
                        "%s: schema registry unavailable, holding the batch until it answers: %s",
                        self.topology.name,
                        exc,
                    )
                    warned = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.holding = False
            if warned:
                log.info("%s: schema registry available again", self.topology.name)
            return

    async def _evolve(self, evolution: SchemaEvolution) -> None:
        """Let the evolver add the columns (or, without one, refuse them: the events fail)."""
        if self.evolver is not None:
            await self.evolver(self, evolution.added, evolution.where)
        elif self.decoder.drift is not None:
            self.decoder.drift.refuse(
                evolution.added, f"{evolution.where}: new columns cannot be propagated here"
            )

    def _process(
        self, records: Sequence[Any], begin: int, end: int, acc: Prepared
    ) -> tuple[int, SchemaEvolution | None]:
        """Decode, transform and encode ``records[begin:end]`` into ``acc``; per-record failures
        are collected by input position.

        Returns the position to go on from: ``end``, or that of the first record whose writer
        schema brings columns to propagate (with that SchemaEvolution).

        The stages run one after the other over runs of ``PHASE`` records (all decodes, then
        all transforms, then all encodes) rather than record by record: each stage's code and
        data then stay in the CPU caches, a third less CPU per record here. Outputs, messages
        and failures still come out in record order.
        """
        decode = self.decoder.decode
        process = self.topology.process
        own = self.tables.table(self.topology.name) if self.tables is not None else None
        encode = self.encoder.messages if self.encoder is not None else None
        outputs, origins, messages, failures = acc.outputs, acc.origins, acc.messages, acc.failures
        message_origins = acc.message_origins
        for start in range(begin, end, PHASE):
            run = records[start : min(start + PHASE, end)]
            # per record: its outputs (a list), or the StageError that stopped it
            results: list[Any] = []
            evolution: SchemaEvolution | None = None
            for rec in run:
                try:
                    results.append(
                        decode(
                            rec.key,
                            rec.value,
                            topic=rec.topic,
                            partition=rec.partition,
                            offset=rec.offset,
                        )
                    )
                except StageError as exc:
                    results.append(exc)
                except SchemaEvolution as found:
                    evolution = found
                    break
            for i, event in enumerate(results):
                if not isinstance(event, StageError):
                    try:
                        results[i] = process(event)
                    except StageError as exc:
                        results[i] = exc
                    else:
                        if own is not None:  # a materialised topology: TOAST fill
                            results[i] = self._fill(own, results[i], run[i])
                        if self.stamp is not None:  # as_of="current": max(own, clock)
                            results[i] = self.stamp(results[i])
            pairs: list[Any] = [()] * len(results)  # per record: its encoded messages
            if encode is not None:
                for i, produced in enumerate(results):
                    if not isinstance(produced, StageError):
                        try:
                            pairs[i] = [m for out in produced for m in encode(out)]
                        except StageError as exc:
                            results[i] = exc
            for position, produced, encoded in zip(
                range(start, start + len(results)), results, pairs, strict=True
            ):
                if isinstance(produced, StageError):
                    failures[position] = produced
                    continue
                for out in produced:
                    outputs.append(out)
                    origins.append(position)
                messages.extend(encoded)
                message_origins.extend([position] * len(encoded))
            if evolution is not None:
                return start + len(results), evolution
        return end, None

    def _fill(self, own: Table, outputs: list[OutputRecord], rec: Any) -> list[OutputRecord]:
        """Fill the UNCHANGED columns of a primary-key update's create from the old key's
        last image (see ``state.oldkey``); other outputs are returned as they are."""
        headers = getattr(rec, "headers", None)
        if not headers or not any(out.unchanged for out in outputs):
            return outputs
        if self._oldkeys is None:
            self._oldkeys = OldKeys(self.topology, self.decoder)
        fill = self._oldkeys.fill
        return [fill(own, out, headers) if out.unchanged else out for out in outputs]

    def _dead_letter(self, rec: Any, error: StageError) -> None:
        if self.dead_letters is None:
            t = self.topology
            self.dead_letters = DeadLetterWriter(self.producer, t.name, t.dlq_topic)
        self.dead_letters.write(rec, error)


def default_writer(sink: Sink, table: TableSpec) -> SinkWriter:
    """A writer with the default retry policy and a breaker named after the sink."""
    return SinkWriter(
        sink,
        table,
        retry_policy=RetryPolicy(),
        breaker=CircuitBreaker(f"{sink.kind}:{table.target}", BreakerPolicy()),
    )
