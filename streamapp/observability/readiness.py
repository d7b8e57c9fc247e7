"""The worker's readiness, answered from a cache that a background task keeps fresh."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from streamapp.sinks.resilience import BreakerState

Probe = Callable[[], object]  # a blocking round trip: returns when the service answered, or raises

INTERVAL = 2.0  # seconds between two probe rounds
TIMEOUT = 5.0  # seconds one probe may take before its service counts as unreachable


class Readiness:
    """What ``/readyz`` reports, without doing any I/O when asked.

    ``run`` probes the service behind every sink each ``interval`` seconds, all at once, on
    connections of their own in threads of their own (never a sink's connection, lock or
    thread pool, so a probe neither waits for a write nor delays one) and keeps the results.
    ``report`` combines them with what the worker knows at that moment: partitions assigned
    and each writer's circuit breaker. Ready means partitions assigned, every probe answered in
    the last round, the round is recent, and every breaker closed. A ``None`` probe (a sink
    with no service to reach, e.g. embedded chDB) counts as answered.
    """

    def __init__(
        self,
        app: Any,
        probes: Mapping[str, Probe | None],
        writers: Sequence[Any],
        *,
        interval: float = INTERVAL,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.probes = dict(probes)
        self.writers = list(writers)
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self._sinks: dict[str, str] = {kind: "not probed yet" for kind in self.probes}
        self._checked_at: float | None = None
        self._pool: ThreadPoolExecutor | None = None

    async def refresh(self) -> None:
        """One probe round; the cache changes only once every probe answered or timed out."""
        kinds = [k for k, probe in self.probes.items() if probe is not None]
        if kinds and self._pool is None:
            self._pool = ThreadPoolExecutor(len(kinds), thread_name_prefix="streamapp-readyz")
        results = await asyncio.gather(*(self._probe(kind) for kind in kinds))
        sinks = {kind: "ok" for kind in self.probes}
        sinks.update(zip(kinds, results, strict=True))
        self._sinks, self._checked_at = sinks, self._clock()

    async def _probe(self, kind: str) -> str:
        probe = self.probes[kind]
        assert probe is not None and self._pool is not None
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(self._pool, probe), self.timeout)
        except TimeoutError:
            return f"unreachable (no answer in {self.timeout:g}s)"
        except Exception:  # noqa: BLE001 - any failure of the round trip: not reachable
            return "unreachable"
        return "ok"

    async def run(self) -> None:
        """Refresh forever (a Faust app task); cancelled when the worker stops."""
        try:
            while True:
                await self.refresh()
                await asyncio.sleep(self.interval)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def report(self) -> dict[str, Any]:
        """{"ready", "partitions_assigned", "sinks", "checked_s_ago"}; never blocks."""
        try:
            assigned = len(self.app.consumer.assignment())
        except Exception:  # noqa: BLE001 - not started yet
            assigned = 0
        sinks = dict(self._sinks)
        age = None if self._checked_at is None else self._clock() - self._checked_at
        if age is not None and age > 2 * self.interval + self.timeout:
            sinks = {kind: f"stale (last probed {age:.0f}s ago)" for kind in sinks}
        for writer in self.writers:
            if writer.breaker.state is not BreakerState.CLOSED:
                sinks[writer.name] = f"breaker {writer.breaker.state.value}"
        ready = assigned > 0 and all(v == "ok" for v in sinks.values())
        return {
            "ready": ready,
            "partitions_assigned": assigned,
            "sinks": sinks,
            "checked_s_ago": None if age is None else round(age, 1),
        }
