"""The worker's slot sampler: every STREAMAPP_SLOT_LAG_INTERVAL seconds, slot lag into /metrics.

Each worker with its endpoints on samples the source on its own (a few rows from
``pg_replication_slots`` over a short-lived connection, in a thread so the event loop never
waits for the source); replicas export the same ``slot`` series under their own ``instance``,
so dashboards and alerts aggregate with ``max by (slot)``. A source that cannot be reached is one
warning line (and one info line once it answers again), never a crash; meanwhile the slot gauges
are absent rather than stale. A MySQL-family source has no slot: one info line, no sampling.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streamapp.observability.metrics import Metrics
from streamapp.observability.slot import (
    SlotReading,
    SlotTrend,
    is_mysql,
    parse_slot_names,
    read_slots,
)
from streamapp.redact import redact_url
from streamapp.settings import Settings

log = logging.getLogger("streamapp.slots")


class SlotWatch:
    """Samples the watched slots into ``metrics``; :meth:`sample` never raises."""

    def __init__(self, settings: Settings, metrics: Metrics, reader: Any = read_slots) -> None:
        self.dsn = settings.source_dsn
        self.names = parse_slot_names(settings.source_slots)
        self.interval = float(settings.slot_lag_interval)
        self.metrics = metrics
        self.trend = SlotTrend(float(settings.slot_lag_window))
        self._read = reader
        self._failing = False
        self._missing: frozenset[str] = frozenset()

    async def sample(self) -> SlotReading:
        """One look at the source; gauges set for the slots found, cleared otherwise."""
        try:
            reading: SlotReading = await asyncio.to_thread(self._read, self.dsn, self.names)
        except Exception as exc:  # noqa: BLE001 - the sampler must never stop a worker
            reading = SlotReading("postgres", problem=f"slot sampling failed: {exc!r}"[:300])
        self.publish(reading)
        return reading

    def publish(self, reading: SlotReading) -> None:
        """Replace the slot gauges with ``reading`` (and log state changes, once each)."""
        m = self.metrics
        for gauge in (m.slot_lag, m.slot_growth, m.slot_active):
            gauge.clear()
        if reading.problem is not None:
            if not self._failing:
                log.warning("%s; slot gauges absent until it answers", reading.problem)
            self._failing = True
            return
        if self._failing:
            log.info("source %s answers again; slot lag sampled", redact_url(self.dsn))
        self._failing = False
        if set(reading.missing) - self._missing:
            log.warning(
                "STREAMAPP_SOURCE_SLOTS: no replication slot %s on the source %s",
                ", ".join(reading.missing),
                redact_url(self.dsn),
            )
        self._missing = frozenset(reading.missing)
        growth = self.trend.add(reading)
        for s in reading.slots:
            m.slot_active.labels(s.slot).set(1 if s.active else 0)
            if s.lag_bytes is not None:
                m.slot_lag.labels(s.slot).set(s.lag_bytes)
            if s.slot in growth:
                m.slot_growth.labels(s.slot).set(growth[s.slot])

    async def run(self) -> None:
        """Sample now, then every ``interval`` seconds until cancelled."""
        while True:
            await self.sample()
            await asyncio.sleep(self.interval)


def start_slot_watch(app: Any, settings: Settings, metrics: Metrics) -> SlotWatch | None:
    """Run a :class:`SlotWatch` as a task of the Faust ``app`` when sampling is on (an interval
    above 0, slots to watch, a PostgreSQL source); None otherwise."""
    if float(settings.slot_lag_interval) <= 0 or parse_slot_names(settings.source_slots) == ():
        return None
    if is_mysql(settings.source_dsn):
        log.info("slot lag not sampled: a MySQL-family source has no replication slot")
        return None
    watch = SlotWatch(settings, metrics)
    app.task(watch.run)
    return watch
