"""The worker's side of the freshness contract: /freshness, heartbeats, streamapp_freshness rows.

Every ``STREAMAPP_FRESHNESS_INTERVAL`` seconds one app task (off the batch path) reads the
newest Debezium heartbeat of each topology's connector and the partition counts of its
topics (both through the admin client, in a thread), then writes one
``streamapp_freshness_partitions`` row per owned partition into every PostgreSQL and ClickHouse
table the topology writes (``Sink.write_freshness``). The rows are written after the batches
they describe were stored, so a row never claims more than its table holds; an idle topology
that is caught up advances too (a write inside the data's transaction could not). A failed
write is logged once per outage and retried at the next interval; it never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from streamapp.decode.envelope import HEARTBEAT_PREFIX
from streamapp.observability.freshness import FreshnessTracker, TopologyFreshness, iso
from streamapp.settings import Settings
from streamapp.sinks.freshness import FreshnessRow

log = logging.getLogger("streamapp.freshness")

SQL_KINDS = ("postgres", "clickhouse")
LOOKUP_EVERY = 60.0  # seconds between looks for heartbeat topics and partition counts


def heartbeat_candidates(source_topic: str) -> list[str]:
    """Heartbeat topics a connector writing ``source_topic`` may use, longest prefix first
    (``shop.public.orders`` -> ``__debezium-heartbeat.shop.public``, ``…heartbeat.shop``)."""
    parts = source_topic.split(".")
    return [f"{HEARTBEAT_PREFIX}.{'.'.join(parts[:n])}" for n in range(len(parts) - 1, 0, -1)]


class FreshnessService:
    """Owns a worker's FreshnessTracker: evaluates it for /freshness and writes the rows."""

    def __init__(
        self, consumer: Any, writers: Sequence[Any], settings: Settings, tracker: FreshnessTracker
    ) -> None:
        self.consumer = consumer
        self.writers = [w for w in writers if w.sink.kind in SQL_KINDS]
        self.settings = settings
        self.tracker = tracker
        self.interval = float(settings.freshness_interval)
        self._counts: dict[str, int] = {}
        self._beats: dict[str, str | None] = {}  # topology -> its heartbeat topic
        self._looked = 0.0
        self._failing: set[str] = set()  # writers whose last write failed (warned once)

    def snapshot(self) -> list[TopologyFreshness]:
        try:
            assigned = list(self.consumer.assignment())
        except Exception:  # noqa: BLE001 - not started yet: nothing owned
            assigned = []
        return self.tracker.snapshot(assigned, self.consumer.progress)

    def export(self, metrics: Any) -> None:
        """Set ``streamapp_complete_through_lag_seconds`` per topology this worker owns
        partitions of (a topology with an unknown time, or none owned, has no sample)."""
        now_ms = int(time.time() * 1000)
        gauge = metrics.complete_through_lag
        gauge.clear()
        for fresh in self.snapshot():
            if fresh.partitions and fresh.complete_through_ms is not None:
                lag = max(0.0, (now_ms - fresh.complete_through_ms) / 1000)
                gauge.labels(fresh.topology).set(lag)

    def report(self) -> dict[str, Any]:
        """The /freshness body."""
        now_ms = int(time.time() * 1000)
        return {
            "generated_at": iso(now_ms),
            "topologies": {t.topology: t.as_json(now_ms) for t in self.snapshot()},
        }

    async def run(self) -> None:
        """The app task: look up heartbeats and counts, write rows; every interval."""
        while True:
            await asyncio.sleep(self.interval or 5.0)
            try:
                await asyncio.to_thread(self._lookup)
            except Exception as exc:  # noqa: BLE001 - freshness never stops the worker
                log.warning("freshness: reading heartbeats/partition counts failed: %s", exc)
            if self.interval > 0:
                await self.write()

    def _lookup(self) -> None:
        """Heartbeat topics (once a minute), the newest heartbeat of each, partition counts."""
        from streamapp.ops.kafka import Kafka
        from streamapp.ops.status import last_output_time

        kafka = Kafka(self.settings, timeout=10.0)
        try:
            if time.monotonic() - self._looked >= LOOKUP_EVERY:
                self._find_topics(kafka)
                self._looked = time.monotonic()
            for topology, topic in self._beats.items():
                if topic is not None:
                    stamp = last_output_time(kafka, topic)
                    if stamp is not None:
                        self.tracker.heartbeat(topology, stamp)
        finally:
            kafka.close()

    def _find_topics(self, kafka: Any) -> None:
        choice = self.settings.freshness_heartbeat_topic.strip()
        for topology, topics in self.tracker.topics.items():
            for topic in topics:
                self._counts[topic] = len(kafka.partitions(topic, missing_ok=True))
            if choice == "off":
                self._beats[topology] = None
            elif choice != "auto":
                self._beats[topology] = choice
            else:
                found = [
                    c
                    for c in heartbeat_candidates(topics[0])
                    if kafka.partitions(c, missing_ok=True)
                ]
                self._beats[topology] = found[0] if found else None

    def partition_count(self, topic: str) -> int:
        return self._counts.get(topic, 0)

    async def write(self) -> None:
        """One row per owned partition into every SQL table of its topology."""
        by_topology = {t.topology: t for t in self.snapshot()}
        now_ms = int(time.time() * 1000)
        for writer in self.writers:
            fresh = by_topology.get(writer.table.topology)
            if fresh is None or not fresh.partitions:
                continue
            rows = rows_for(fresh, writer.name, now_ms)
            try:
                await writer.sink.write_freshness(writer.table, rows)
            except Exception as exc:  # noqa: BLE001 - logged; retried at the next interval
                if writer.name not in self._failing:
                    log.warning(
                        "freshness: writing streamapp_freshness for %s: %s", writer.name, exc
                    )
                self._failing.add(writer.name)
                continue
            if writer.name in self._failing:
                self._failing.discard(writer.name)
                log.info("freshness: writing streamapp_freshness for %s again", writer.name)


def rows_for(fresh: TopologyFreshness, sink: str, now_ms: int) -> list[FreshnessRow]:
    """The streamapp_freshness_partitions rows of one topology in one sink."""
    return [
        FreshnessRow(
            fresh.topology,
            sink,
            f"{p.topic}/{p.partition}",
            fresh.partitions_total,
            p.complete_through_ms,
            f"{p.topic}/{p.partition}@{p.next_offset}",
            now_ms,
        )
        for p in fresh.partitions
    ]


def install(app: Any, writers: Sequence[Any], settings: Settings) -> FreshnessService:
    """Track freshness for ``app``'s batch consumer, serve ``/freshness`` and start the task."""
    consumer = app.consumer
    topics: dict[str, list[str]] = consumer.lane_topics()
    sinks: dict[str, list[str]] = {name: [] for name in topics}
    for w in writers:
        sinks.setdefault(w.table.topology, []).append(w.name)
    service: FreshnessService
    tracker = FreshnessTracker(topics, sinks, lambda topic: service.partition_count(topic))
    service = FreshnessService(consumer, writers, settings, tracker)
    consumer.freshness = tracker

    async def freshness_view(view: Any, request: Any) -> Any:
        return view.json(service.report())

    app.page("/freshness")(freshness_view)
    app.task(service.run)
    return service
