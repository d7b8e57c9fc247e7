"""A Faust consumer that hands whole fetched batches to a handler per topic.

Faust as shipped delivers one message at a time through the conductor, a channel queue and
the agent's stream, creating tasks per message (measured here: ~3k events/s). This consumer keeps
everything else of Faust — the app, agents and their topic subscriptions, group membership,
rebalancing, the commit loop — and replaces only the drain loop:

* each ``getmany`` result (a map of partition -> raw aiokafka records) is appended to a per-topology
  buffer; a buffer becomes a batch when it holds ``batch_size`` records, when its oldest record
  waited ``batch_max_wait`` seconds, or when flow stops (rebalance) or the worker stops;
* a batch is first *prepared* (decode, transform, encode: CPU) by the drain loop, then *stored*
  (sinks, output topic, DLQ: I/O) by a task, while the drain loop fetches and prepares the next
  batch. Each topology is a *lane* with its own chain of stores: a lane's stores run one at a
  time, in order, so per-key order across batches is kept, and lanes do not wait for each other;
* backpressure pauses, it does not block: a lane holds at most one batch being stored and one
  prepared batch waiting for it. When it is full and its buffer has a whole batch, its
  partitions are *paused* in the Kafka client (aiokafka's ``pause``, so nothing more is fetched
  for them) and the drain loop keeps polling: heartbeats, ``max.poll.interval`` and group
  membership stay alive, and the other topologies keep flowing. (Faust's own active-partition
  set is left alone: with every partition out of it Faust stops polling altogether, and the
  group evicts the worker after ``max.poll.interval``.) The lane's partitions resume when its
  stores catch up. Memory per topology: two batches, its buffer (at most ``batch_size`` plus one
  fetch) and aiokafka's per-partition prefetch;
* a batch's offsets are marked processed only when its store finished (and then the freshness
  tracker, if set, learns each partition's newest stored source time); a store whose
  predecessor in the lane failed never runs. A store that staged the batch in a *deferred*
  sink (Iceberg: one commit per interval) returns that sink's barrier instead: the lane goes on
  storing, and the batch is marked when the barrier resolves, after the lane's earlier batches
  (``_mark_later``); revocation and stop flush such sinks and wait for their marks;
* the gap watch (``runtime/gaps.py``), when set, compares the committed offsets with the log
  start offsets after each assignment's seek, and sees every fetched chunk of a partition: a
  first offset past the one expected is settled, gap or not, before the batch holding it is
  prepared; after a gap in an ``on_gap="fail"`` topology nothing more is handed on;
* Faust's commit loop commits ``processed + 1`` per partition (``_new_offset``), so an offset is
  committed only after its record is in every sink, the output topic and the DLQ;
* on revocation and stop Faust calls ``wait_empty`` before committing: it waits for every lane's
  stores in flight (records still buffered are dropped uncommitted and re-delivered), then
  commits with a bound, and not at all after a crash (see ``_final_commit``).

A prepare or store that raises stops the worker (Faust crashes the app): nothing past the failed
batch is marked processed, so a restart re-delivers it and the versioned sinks deduplicate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streamapp.observability.freshness import FreshnessTracker
from streamapp.observability.metrics import Metrics
from streamapp.runtime.gaps import GapWatch

Batch = Mapping[TP, Sequence[Any]]  # partition -> aiokafka ConsumerRecords, in offset order


class BatchProcessor(Protocol):
    """What the consumer hands batches to (one per topology): CPU first, then I/O."""

    async def prepare(self, batch: Batch) -> Any:
        """Everything that needs no I/O; the result goes to ``store``."""

    async def store(self, prepared: Any) -> Awaitable[Any] | None:
        """Make the prepared batch durable; the batch is committed after this returns, or,
        when it returns an awaitable (a deferred sink staged the batch), after that resolves."""

    async def flush(self) -> None:
        """Make what deferred sinks staged durable now (called on revocation and stop)."""


class _Buffer:
    """Records fetched for one handler and not yet handed to it."""

    __slots__ = ("count", "records", "since")

    def __init__(self) -> None:
        self.records: dict[TP, list[Any]] = {}
        self.count = 0
        self.since = 0.0

    def add(self, tp: TP, records: Sequence[Any]) -> None:
        if not self.count:
            self.since = time.monotonic()
        self.records.setdefault(tp, []).extend(records)
        self.count += len(records)

    def keep(self, tps: set[TP]) -> None:
        """Drop the records of partitions not in ``tps``."""
        self.records = {tp: recs for tp, recs in self.records.items() if tp in tps}
        self.count = sum(map(len, self.records.values()))

    def take(self) -> dict[TP, list[Any]]:
        records, self.records, self.count = self.records, {}, 0
        return records


class _Lane:
    """One topology's buffer, its chain of stores and the partitions paused for it."""

    __slots__ = ("buffer", "depth", "marks", "name", "paused", "processor", "stores", "tail")

    def __init__(self, name: str, processor: BatchProcessor) -> None:
        self.name = name
        self.processor = processor
        self.buffer = _Buffer()
        self.tail: asyncio.Future[None] | None = None  # the newest store of the chain
        self.depth = 0  # stores started and not finished (at most 2: storing + prepared)
        self.stores: list[asyncio.Future[None]] = []  # those stores, oldest first
        # the newest batch stored in a deferred sink and not yet marked processed; later
        # batches are marked after it, in lane order
        self.marks: asyncio.Future[None] | None = None
        self.paused: set[TP] = set()


LANE_DEPTH = 2  # batches per topology past its buffer: one being stored, one prepared
FULL_POLL = 0.05  # seconds between polls while a lane is full (its stores resume it)


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with the batch drain loop described in the module docstring."""

    batch_size: int = 5000
    batch_max_wait: float = 0.2
    shutdown_grace: float = 30.0
    commit_bound: float = 15.0  # seconds the commit on revocation or stop may take
    stall_after: float = 30.0  # seconds without a loop pass before liveness() says stalled

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handlers: dict[str, _Lane] = {}
        self._lanes: list[_Lane] = []
        self._processed: dict[TP, int] = {}
        self.metrics: Metrics | None = None
        self.freshness: FreshnessTracker | None = None  # told of every stored batch
        self.gaps: GapWatch | None = None  # sees every fetch, settles jumps before prepare
        self._drain_task: asyncio.Future[Any] | None = None  # for liveness()
        self._loop_at = time.monotonic()  # when the drain loop last completed a pass

    def set_handler(
        self, topics: Sequence[str], processor: BatchProcessor, name: str | None = None
    ) -> None:
        """Route records of ``topics`` to ``processor``, batched together (one topology,
        ``name``d in metrics)."""
        lane = _Lane(name or ",".join(topics), processor)
        self._lanes.append(lane)
        for topic in topics:
            self._handlers[topic] = lane

    def lane_topics(self) -> dict[str, list[str]]:
        """Each handler's name -> the topics routed to it."""
        return {
            lane.name: [t for t, h in self._handlers.items() if h is lane] for lane in self._lanes
        }

    @property
    def storing(self) -> bool:
        """True while any lane has a store in flight."""
        return any(lane.depth for lane in self._lanes)

    # -- commit bookkeeping -------------------------------------------------------------------
    def _new_offset(self, tp: TP) -> int | None:
        processed = self._processed.get(tp)
        if processed is None:
            return None
        committed = self._committed_offset.get(tp)
        offset = processed + 1
        return offset if committed is None or offset > committed else None

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Any:
        return (
            tp
            for tp in list(self._processed)
            if topics is None or tp in topics or tp.topic in topics
        )

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        # Forget progress of partitions we no longer own: another worker commits those.
        for tp in list(self._processed):
            if tp not in assigned:
                del self._processed[tp]
        if self.freshness is not None:
            self.freshness.forget(assigned)
        if self.gaps is not None:  # read from their committed offsets again
            self.gaps.forget(assigned)
        # Revocation waited for every store (wait_empty): no lane is full any more, and a new
        # assignment starts unpaused in the client. Records buffered for partitions now owned
        # by another worker are theirs to read (from the committed offset).
        for lane in self._lanes:
            lane.paused.clear()
            lane.buffer.keep(assigned)
        await super().on_partitions_assigned(assigned, generation_id)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets after an assignment, then the gap watch's
        look at them (a committed offset below the log start offset is a gap)."""
        await super().perform_seek()
        if self.gaps is not None:
            handlers = self._handlers
            topologies = {
                tp: handlers[tp.topic].name for tp in self.assignment() if tp.topic in handlers
            }
            await self.gaps.assigned(topologies, self._committed_offset)

    async def wait_empty(self) -> None:
        """Called on revocation and on stop, before Faust commits: let every lane's stores in
        flight finish (up to ``shutdown_grace`` seconds in all, then they are cancelled and stay
        uncommitted)."""
        tails = [lane.tail for lane in self._lanes if lane.tail is not None and lane.depth]
        if tails:
            done, pending = await asyncio.wait(
                [asyncio.shield(t) for t in tails], timeout=self.shutdown_grace
            )
            for fut in done:
                if not fut.cancelled():
                    fut.exception()  # retrieved: a store's own failure crashed the app
            if pending:
                self.log.warning(
                    "batch store did not finish in %.0fs; abandoning it (it will be re-delivered)",
                    self.shutdown_grace,
                )
                for t in tails:
                    t.cancel()
                for fut in pending:
                    fut.cancel()
        await self._settle_marks(self.shutdown_grace)
        await self._final_commit()

    async def _final_commit(self) -> None:
        """Commit what is processed, unless the app crashed; never wait without bound.

        Faust commits through the consumer thread's method queue, and a crash may already have
        stopped that thread: the reply never comes, and a commit awaited there kept a crashed
        worker alive forever (mode's stop waits for this coroutine). After a crash nothing is
        committed here (the failed batch and what followed are re-delivered after a restart,
        and the versioned sinks absorb the repeats); otherwise the commit gets
        ``commit_bound`` seconds.
        """
        app = self.transport.app
        if self.crashed or app.crashed:
            self.log.warning(
                "not committing on the way out of a crash: uncommitted batches are re-delivered "
                "after a restart"
            )
            return
        try:
            await asyncio.wait_for(self.commit_and_end_transactions(), self.commit_bound)
        except TimeoutError:
            self.log.warning(
                "offset commit did not finish in %.0fs; its batches are re-delivered after a "
                "restart",
                self.commit_bound,
            )

    # -- the drain loop -----------------------------------------------------------------------
    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - runs in Faust
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        self._drain_task, self._loop_at = asyncio.current_task(), time.monotonic()
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                records, _active = await self._wait_next_records(self._poll_timeout())
                if records and not self.should_stop:
                    self._buffer(records)
                await self._flush_due(force=not self.flow_active or self.should_stop)
                self._loop_at = time.monotonic()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    def resume_flow(self) -> None:
        self._loop_at = time.monotonic()  # the loop was waiting for this, not stalled
        super().resume_flow()

    def liveness(self) -> tuple[bool, str]:
        """(alive, reason) for /healthz. Not alive: the consumer or app crashed, the drain loop
        ended with an error, or it completed no pass for ``stall_after`` seconds although it
        waits neither for a rebalance nor, deliberately, for the schema registry (a pipeline
        that says it is ``holding`` a batch). Stores never hold the loop (they run beside it),
        so a store in flight does not excuse a loop without passes. Reads state only; safe to
        call at any time."""
        app = self.transport.app
        for service in (self, app):
            if service.crashed:
                reason = service.crash_reason
                return False, f"consumer crashed: {type(reason).__name__}: {reason}"
        task = self._drain_task
        if task is None:
            return True, "starting"
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            return False, f"batch loop failed: {type(exc).__name__}: {exc}"
        if app.should_stop or app.rebalancing or not self.flow_active:
            return True, "rebalancing or stopping"
        idle = time.monotonic() - self._loop_at
        if idle <= self.stall_after:
            return True, "ok"
        if any(getattr(lane.processor, "holding", False) for lane in self._lanes):
            return True, "holding a batch until the schema registry answers"
        state = "not running" if task.done() else "stuck"
        return False, f"batch loop {state}: no pass for {idle:.0f}s (limit {self.stall_after:.0f}s)"

    def _poll_timeout(self) -> float:
        now = time.monotonic()
        timeout = 1.0
        for lane in self._lanes:
            buf = lane.buffer
            if lane.paused or (buf.count and lane.depth >= LANE_DEPTH):
                timeout = min(timeout, FULL_POLL)  # waits for its stores, not for a fetch
            elif buf.count:
                timeout = min(timeout, max(0.0, buf.since + self.batch_max_wait - now))
        return timeout

    def _buffer(self, records: Mapping[TP, Sequence[Any]]) -> None:
        handlers, gaps = self._handlers, self.gaps
        if gaps is not None and gaps.halted:
            return  # on_gap="fail": nothing past the gap is processed; the worker stops
        for tp, batch in records.items():
            lane = handlers.get(tp.topic)
            if lane is None:
                raise RuntimeError(f"no batch handler for topic {tp.topic!r}")
            if gaps is not None and batch:
                gaps.seen(tp, batch[0].offset, batch[-1].offset, self._committed_offset.get(tp))
            lane.buffer.add(tp, batch)

    async def _flush_due(self, *, force: bool) -> None:
        blocked: list[_Lane] = []  # due, but their stores are behind
        ran = False
        for lane in self._lanes:
            buf = lane.buffer
            if not buf.count:
                continue
            full = buf.count >= self.batch_size
            if not (force or full or time.monotonic() - buf.since >= self.batch_max_wait):
                continue
            if lane.depth >= LANE_DEPTH:
                if full and not force:
                    self._pause(lane)
                blocked.append(lane)
                continue
            await self._run(lane, buf.take())
            ran = True
        if blocked and not ran and not force:
            # Nothing else to do: wake as soon as a blocked lane's oldest store finishes (as a
            # plain await would), but poll again after batch_max_wait at the latest, so a
            # long outage never keeps the loop from polling (the lane's partitions are paused).
            oldest = [lane.stores[0] for lane in blocked if lane.stores]
            if oldest:
                await asyncio.wait(
                    oldest, timeout=self.batch_max_wait, return_when=asyncio.FIRST_COMPLETED
                )

    def _pause(self, lane: _Lane) -> None:
        """Stop fetching for a full lane: the partitions it buffers, and the rest of its
        topics' assigned partitions (the drain loop keeps polling for the others)."""
        topics = {topic for topic, other in self._handlers.items() if other is lane}
        tps = {tp for tp in self.assignment() if tp.topic in topics} - lane.paused
        if tps:
            lane.paused |= tps
            self._client().pause(*(TopicPartition(tp.topic, tp.partition) for tp in tps))
            if self.metrics is not None:
                self.metrics.paused.labels(lane.name).set(1)

    def _resume(self, lane: _Lane) -> None:
        if lane.paused:
            tps, lane.paused = lane.paused & set(self.assignment()), set()
            if tps:
                self._client().resume(*(TopicPartition(tp.topic, tp.partition) for tp in tps))
            if self.metrics is not None:
                self.metrics.paused.labels(lane.name).set(0)

    def _client(self) -> Any:
        """The aiokafka consumer under Faust's consumer thread."""
        return self._thread._ensure_consumer()

    async def _run(self, lane: _Lane, batch: dict[TP, list[Any]]) -> None:
        try:
            if self.gaps is not None and self.gaps.candidates:  # a jump: gap or not?
                await self.gaps.settle(lane.name, batch)
            if self.gaps is not None and self.gaps.halted:
                return  # on_gap="fail": the batch is dropped uncommitted; the worker stops
            prepared = await lane.processor.prepare(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._fail(exc)
            raise
        lane.depth += 1
        lane.tail = asyncio.ensure_future(self._store(lane, lane.tail, prepared, batch))
        lane.stores.append(lane.tail)

    async def _store(
        self,
        lane: _Lane,
        previous: asyncio.Future[None] | None,
        prepared: Any,
        batch: dict[TP, list[Any]],
    ) -> None:
        failure: Exception | None = None
        try:
            if previous is not None and not previous.done():
                # Stores of a lane run one at a time, in order; one that failed (or was
                # abandoned) ends the chain: nothing after it may be marked processed.
                await asyncio.wait([previous])
            if previous is not None and (previous.cancelled() or previous.exception()):
                return
            later = await lane.processor.store(prepared)
            if later is None and (lane.marks is None or lane.marks.done()):
                self._mark(batch, prepared)
            else:  # durable once ``later`` resolves: marked then, after the lane's earlier marks
                lane.marks = asyncio.ensure_future(
                    self._mark_later(lane, lane.marks, later, batch, prepared)
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure stops the worker, below
            failure = exc
        finally:
            lane.depth -= 1
            task = asyncio.current_task()
            if task in lane.stores:
                lane.stores.remove(task)
            if lane.depth < LANE_DEPTH:
                self._resume(lane)
        if failure is not None:
            await self._fail(failure)
            raise failure

    def _mark(self, batch: dict[TP, list[Any]], prepared: Any) -> None:
        """The batch is in every sink: its offsets may be committed."""
        processed = self._processed
        for tp, records in batch.items():
            processed[tp] = records[-1].offset
        if self.freshness is not None:
            self.freshness.stored(batch, prepared)
        if self.metrics is not None:
            self._observe_lag(batch)

    async def _mark_later(
        self,
        lane: _Lane,
        previous: asyncio.Future[None] | None,
        later: Awaitable[Any] | None,
        batch: dict[TP, list[Any]],
        prepared: Any,
    ) -> None:
        """Mark ``batch`` once the lane's previous marks are done and ``later`` (a deferred
        sink's barrier) resolved. A barrier that raises stops the worker: nothing from that
        batch on is marked, and it is re-delivered after a restart."""
        try:
            if previous is not None:
                await asyncio.wait([previous])
                if previous.cancelled() or previous.exception() is not None:
                    return
            if later is not None:
                await later
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._fail(exc)
            raise
        self._mark(batch, prepared)

    async def _settle_marks(self, timeout: float) -> None:
        """Flush the lanes' deferred sinks and wait (up to ``timeout`` s) for their marks."""
        marks = [lane for lane in self._lanes if lane.marks is not None and not lane.marks.done()]
        if not marks:
            return
        flushes = [lane.processor.flush() for lane in marks]
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(asyncio.gather(*flushes, return_exceptions=True))
        ]
        waits += [asyncio.shield(lane.marks) for lane in marks if lane.marks is not None]
        done, pending = await asyncio.wait(waits, timeout=timeout)
        for fut in done:
            if not fut.cancelled():
                fut.exception()  # retrieved: a failed barrier crashed the app already
        if pending:
            self.log.warning(
                "deferred sinks did not commit in %.0fs; their batches are re-delivered",
                timeout,
            )
            for fut in pending:
                fut.cancel()

    def progress(self, tp: TP) -> tuple[int | None, int | None, bool]:
        """(next offset to read, high watermark last fetched, paused) of an assigned partition;
        None where not known yet. Reads state only (the freshness contract asks)."""
        done = self._processed.get(tp)
        nxt = done + 1 if done is not None else self._committed_offset.get(tp)
        try:
            high = self.highwater(tp)
        except Exception:  # noqa: BLE001 - no watermark yet
            high = None
        if high is not None and high < 0:
            high = None
        if nxt is None and high == 0:
            nxt = 0  # a partition that never held a record: caught up with nothing to read
        return nxt, high, any(tp in lane.paused for lane in self._lanes)

    def lag(self) -> int:
        """Records on assigned partitions past what this worker processed (or the committed
        offset before it processed anything); partitions without a watermark yet count 0."""
        total = 0
        for tp in self.assignment():
            try:
                high = self.highwater(tp)
            except Exception:  # noqa: BLE001 - no watermark yet
                continue
            if high is None or high < 0:
                continue
            done = self._processed.get(tp)
            position = done + 1 if done is not None else self._committed_offset.get(tp) or 0
            total += max(0, high - position)
        return total

    def _observe_lag(self, batch: dict[TP, list[Any]]) -> None:
        assert self.metrics is not None
        for tp in batch:
            try:
                high = self.highwater(tp)
            except Exception:  # noqa: BLE001 - no watermark yet: nothing to report
                continue
            if high is not None and high >= 0:
                lag = max(0, high - (self._processed[tp] + 1))
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)

    async def _fail(self, failure: BaseException) -> None:
        # Nothing of the failed batch is marked processed: a restart re-delivers it.
        self.log.error("batch failed, stopping the worker: %s: %s", type(failure).__name__, failure)
        await self.crash(failure)


class BatchTransport(faust_aiokafka.Transport):
    """The aiokafka transport with :class:`BatchConsumer`."""

    Consumer = BatchConsumer
