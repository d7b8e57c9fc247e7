"""Keep one Table in step with its topology's source topic: every partition, no consumer group.

A ``TableReader`` is an asyncio task around a confluent-kafka Consumer (``kafka_conf``, so the
worker's SASL/TLS settings apply) that is *assigned* every partition of the table topology's
source topic, from the store's checkpointed offsets or the beginning, and never commits to a
group. Each fetched batch is decoded with the same ``Decoder`` the worker's lanes use and run
through the table topology's compiled ``process``; the outputs are applied to the Table in
offset order, then the table's position advances to the consumer's positions. A cycle takes
what the consumer has queued at once and waits (``poll_timeout``) only when nothing is queued, so
a record is applied as soon as it is fetched. The store is
checkpointed (rows and offsets in one atomic write) at most every ``checkpoint_interval``
seconds and at stop. With aggregates (``state.aggemit``) every change is applied to them too,
and each checkpoint (every ``checkpoint_interval``, also with a MemoryStore) first writes their
changed groups to their sinks, then the store (rows, offsets and group versions).

``await catch_up(deadline)`` is the barrier lookups use: it returns True once the table's
position is at or past the topic's end offsets as of the call, False at the deadline. The end
offsets are asked for at every call (nothing cached: an answer from before the call could miss
records written just before it), in one ListOffsets request per broker through the reader's own
AdminClient, never through the reading consumer: the broker answers one connection's requests in
order, so a query on the consumer's connection waited behind its fetch long-poll
(``fetch.wait.max.ms``, 500 ms, per partition: seconds per barrier on an idle topic). The end
offset asked for is the last stable offset under the consumer's ``isolation.level``
(read_committed by default: the offset the consumer can reach; without open transactions it is
the high watermark). A caught-up table costs one round trip per barrier; a table behind waits for
the reader's cycles (woken by each one) until its position passes those offsets.

A record that cannot be decoded or transformed is skipped here (counted in
``streamapp_table_records_skipped``, one warning line per reader): the table topology's own
lane sends it to its DLQ; the reader never stops for it. Partitions added to the topic after
start are not read until the worker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from streamapp.decode import Decoder
from streamapp.errors import RegistryUnavailableError, StageError
from streamapp.kafkaconf import kafka_conf
from streamapp.observability.metrics import Metrics
from streamapp.ops.reader import to_record
from streamapp.records import OutputRecord
from streamapp.settings import Settings
from streamapp.state.aggemit import Aggregator
from streamapp.state.oldkey import OldKeys
from streamapp.state.table import Table
from streamapp.transform.compile import CompiledTopology

log = logging.getLogger("streamapp.state")


class TableReader:
    """Materialises ``topology``'s output rows into ``table`` (see the module docstring)."""

    def __init__(
        self,
        topology: CompiledTopology,
        table: Table,
        decoder: Decoder,
        *,
        settings: Settings,
        conf: dict[str, Any] | None = None,
        metrics: Metrics | None = None,
        batch_size: int = 2000,
        checkpoint_interval: float = 1.0,
        poll_timeout: float = 0.2,
    ) -> None:
        self.topology = topology
        self.table = table
        self.decoder = decoder
        self.topic = topology.source_topics[0]
        self.metrics = metrics
        self.batch_size = batch_size
        self.checkpoint_interval = checkpoint_interval
        self.poll_timeout = poll_timeout  # a cycle's wait when nothing is queued (and at stop)
        self.cycles = 0  # read cycles done (each one sets the progress event)
        self.oldkeys = OldKeys(topology, decoder)
        self.skipped = 0
        self.loaded = 0  # entries loaded from the store at start
        self.aggregator: Aggregator | None = None  # the table's aggregates (state.aggemit)
        self._conf = kafka_conf(
            settings,
            {
                "group.id": f"streamapp-table-{topology.name}",  # never joined nor committed
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": False,
                "auto.offset.reset": "earliest",
                **(conf or {}),
            },
        )
        self._admin_conf = kafka_conf(settings, {"client.id": f"streamapp-table-{topology.name}"})
        committed = str(self._conf.get("isolation.level", "read_committed")) == "read_committed"
        self._isolation = (
            IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED
        )
        self._consumer: Any = None
        self._admin: Any = None
        self._partitions: list[int] = []
        self._high: dict[int, int] = {}
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._warned = False
        self._last_checkpoint = time.monotonic()

    async def start(self) -> None:
        """Load the store, assign the partitions and start reading (returns at once)."""
        self.loaded = await asyncio.to_thread(self.table.load)
        if self.aggregator is not None:
            await asyncio.to_thread(self.aggregator.load)
        self._consumer = Consumer(self._conf)
        self._admin = AdminClient(self._admin_conf)
        await asyncio.to_thread(self._assign)
        self._task = asyncio.ensure_future(self._run())

    async def restore(self, timeout: float = 600.0) -> float:
        """Start and wait until caught up (one log line with rows and seconds); returns the
        seconds it took. TimeoutError after ``timeout`` seconds."""
        started = time.monotonic()
        await self.start()
        if not await self.catch_up(started + timeout):
            raise TimeoutError(
                f"table {self.table.name} did not catch up with {self.topic} in {timeout:.0f}s"
            )
        seconds = time.monotonic() - started
        log.info(
            "table %s: %d rows from %s restored in %.1f s (%d entries from the store %s)",
            self.table.name,
            len(self.table),
            self.topic,
            seconds,
            self.loaded,
            getattr(self.table.store, "path", "in memory"),
        )
        if self.metrics is not None:
            self.metrics.table_restore_seconds.labels(self.table.name).set(seconds)
        return seconds

    async def catch_up(self, deadline: float) -> bool:
        """True once the table reflects the topic up to its end offsets as of this call
        (``deadline`` on ``time.monotonic()``); False when the deadline passes first."""
        high = await self._end_offsets()
        while True:
            if self._behind(high) == 0:
                return True
            if self._task is not None and self._task.done():
                self._task.result()  # the reader failed: raise its error here
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await self._wait_progress(min(left, 0.5))

    async def wait_for(self, keys: Sequence[tuple[Any, ...]], deadline: float) -> bool:
        """True once every key has a live row, False at ``deadline`` (``time.monotonic()``)."""
        get = self.table.get
        while any(get(key) is None for key in keys):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await self._wait_progress(min(left, 0.5))
        return True

    async def _wait_progress(self, seconds: float) -> None:
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), seconds)

    async def stop(self) -> None:
        """Stop reading, checkpoint the table and close the consumer and the store."""
        self._stopping = True
        if self.aggregator is not None:
            self.aggregator.stopping.set()  # an unavailable sink fails the last emit
        if self._task is not None:
            # let the loop finish its poll (poll_timeout at most): the consumer is not thread-safe
            done, _ = await asyncio.wait([self._task], timeout=10.0)
            if not done:
                self._task.cancel()
            elif not self._task.cancelled() and self._task.exception() is not None:
                log.warning(
                    "table %s: reader stopped with %s", self.table.name, self._task.exception()
                )
        if self._consumer is not None:
            await asyncio.to_thread(self._consumer.close)
        try:
            await self._checkpoint()
        except Exception as exc:  # noqa: BLE001 - a restart re-reads from the last checkpoint
            log.warning(
                "table %s: no checkpoint at stop, its aggregates could not be written (%s); "
                "a restart re-reads the topic from the last checkpoint",
                self.table.name,
                exc,
            )
        self.table.close()

    def _assign(self) -> None:
        meta = self._consumer.list_topics(self.topic, timeout=10)
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            self._partitions = []  # not created yet: looked for again while running
            return
        self._partitions = sorted(topic.partitions)
        start = self.table.position()
        self._consumer.assign(
            [
                TopicPartition(self.topic, p, start.get(p, OFFSET_BEGINNING))
                for p in self._partitions
            ]
        )

    async def _end_offsets(self) -> dict[int, int]:
        """Each partition's end offset, asked now (see the module docstring); -1 for an empty
        partition whose position the consumer does not know (nothing to wait for there)."""
        if self._admin is None:
            return {}
        if not self._partitions:
            await asyncio.to_thread(self._assign)
        ends = await self._list_offsets(self._partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        position = self.table.position()
        unknown = [p for p, end in ends.items() if end > 0 and p not in position]
        if unknown:  # trimmed to empty (start == end), or not read yet
            starts = await self._list_offsets(unknown, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
            ends.update({p: -1 for p in unknown if starts[p] >= ends[p]})
        self._high = ends
        return ends

    async def _list_offsets(self, partitions: Sequence[int], spec: Any) -> dict[int, int]:
        if not partitions:
            return {}
        futures = self._admin.list_offsets(
            {TopicPartition(self.topic, p): spec for p in partitions},
            isolation_level=self._isolation,
            request_timeout=10,
        )
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures.values()))
        return {tp.partition: r.offset for tp, r in zip(futures, results, strict=True)}

    def _behind(self, high: dict[int, int]) -> int:
        position = self.table.position()
        return sum(max(0, h - position.get(p, 0)) for p, h in high.items() if h >= 0)

    async def _run(self) -> None:
        delay = 0.5
        while not self._stopping:
            if not self._partitions:
                await asyncio.to_thread(self._assign)
                if not self._partitions:
                    self._progress.set()
                    await asyncio.sleep(2.0)
                    continue
            msgs, positions = await asyncio.to_thread(self._fetch)
            records = [to_record(m) for m in msgs if m.error() is None]
            try:
                await self.decoder.prefetch(records)
            except RegistryUnavailableError as exc:
                log.warning(
                    "table %s: schema registry unavailable, retrying: %s", self.table.name, exc
                )
                await asyncio.to_thread(self._seek_back, records)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 0.5
            self._apply(self._outputs(records))  # the rest of the batch
            self.table.advance({tp.partition: tp.offset for tp in positions if tp.offset >= 0})
            now = time.monotonic()
            if (
                self.table.store.persistent or self.aggregator is not None
            ) and now - self._last_checkpoint >= self.checkpoint_interval:
                await self._checkpoint()
                self._last_checkpoint = now
            self._update_metrics()
            self.cycles += 1
            self._progress.set()
            await asyncio.sleep(0)

    def _fetch(self) -> tuple[list[Any], list[TopicPartition]]:
        """What the consumer has queued (up to ``batch_size``), waiting ``poll_timeout`` only
        when nothing is (``consume`` with a timeout waits for a full batch), and the positions
        after it (in one thread hop)."""
        consumer = self._consumer
        msgs = consumer.consume(self.batch_size, 0)
        if not msgs:
            first = consumer.poll(self.poll_timeout)
            if first is not None:
                msgs = [first, *consumer.consume(self.batch_size - 1, 0)]
        positions = consumer.position([TopicPartition(self.topic, p) for p in self._partitions])
        return msgs, positions

    def _apply(self, outputs: list[OutputRecord]) -> None:
        if self.aggregator is None:
            self.table.apply(outputs)
        else:
            self.aggregator.apply(outputs)

    async def _checkpoint(self) -> None:
        """Emit the aggregates' dirty groups, then (only then) write the table's checkpoint
        with their versions (see ``state.aggemit``)."""
        aggregator = self.aggregator
        if aggregator is None:
            self.table.checkpoint()
            return
        await aggregator.emit()
        self.table.checkpoint(aggregator.extra())
        aggregator.saved()

    def _seek_back(self, records: Sequence[Any]) -> None:
        first: dict[int, int] = {}
        for rec in records:
            first.setdefault(rec.partition, rec.offset)
        for partition, offset in first.items():
            self._consumer.seek(TopicPartition(self.topic, partition, offset))

    def _outputs(self, records: Sequence[Any]) -> list[OutputRecord]:
        """The batch's outputs not applied yet: what precedes a fill is applied first, so the
        old key's image is there when its row moved within the batch."""
        decode, process = self.decoder.decode, self.topology.process
        out: list[OutputRecord] = []
        fill = self.oldkeys.fill
        for rec in records:
            try:
                event = decode(
                    rec.key, rec.value, topic=rec.topic, partition=rec.partition, offset=rec.offset
                )
                for output in process(event):
                    if output.unchanged and rec.headers:
                        self._apply(out)
                        out = []
                        output = fill(self.table, output, rec.headers)
                    out.append(output)
            except StageError as exc:
                self._skip(rec, exc)
            except Exception as exc:  # noqa: BLE001 - schema evolution etc.: never stop the table
                self._skip(rec, exc)
        return out

    def _skip(self, rec: Any, exc: BaseException) -> None:
        self.skipped += 1
        if self.metrics is not None:
            self.metrics.table_skipped.labels(self.table.name).inc()
        if not self._warned:
            self._warned = True
            log.warning(
                "table %s: skipping %s[%d]@%d (%s: %s); its topology's lane sends such records "
                "to %s (further skips are only counted)",
                self.table.name,
                rec.topic,
                rec.partition,
                rec.offset,
                type(exc).__name__,
                exc,
                self.topology.dlq_topic,
            )

    def _update_metrics(self) -> None:
        m = self.metrics
        if m is None:
            return
        m.table_rows.labels(self.table.name).set(len(self.table))
        m.table_lag.labels(self.table.name).set(self._behind(self._high))
