"""Readiness from a cache: probes on their own threads, reports that never wait, stale rounds."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from streamapp.observability.readiness import Readiness
from streamapp.sinks.resilience import BreakerPolicy, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class App:
    """What Readiness reads of a Faust app: the consumer's assignment."""

    def __init__(self, assigned: int) -> None:
        self.consumer = self
        self._assigned = assigned

    def assignment(self) -> set[int]:
        return set(range(self._assigned))


class Writer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.breaker = CircuitBreaker(name, BreakerPolicy(failure_threshold=1))


def answers() -> str:
    return "ok"


def refuses() -> str:
    raise ConnectionRefusedError("connection refused")


def run(readiness: Readiness) -> dict[str, Any]:
    asyncio.run(readiness.refresh())
    return readiness.report()


@pytest.mark.parametrize(
    ("assigned", "probes", "ready", "sinks"),
    [
        (3, {"postgres": answers, "redis": answers}, True, {"postgres": "ok", "redis": "ok"}),
        (0, {"postgres": answers}, False, {"postgres": "ok"}),
        (
            3,
            {"postgres": answers, "redis": refuses},
            False,
            {"postgres": "ok", "redis": "unreachable"},
        ),
        (3, {"clickhouse": None, "redis": answers}, True, {"clickhouse": "ok", "redis": "ok"}),
        (1, {}, True, {}),
    ],
)
def test_report_after_a_probe_round(
    assigned: int, probes: dict[str, Any], ready: bool, sinks: dict[str, str]
) -> None:
    report = run(Readiness(App(assigned), probes, []))
    assert report["ready"] is ready
    assert report["sinks"] == sinks
    assert report["partitions_assigned"] == assigned
    assert report["checked_s_ago"] == 0.0


def test_not_ready_before_the_first_round() -> None:
    report = Readiness(App(3), {"postgres": answers}, []).report()
    assert report["ready"] is False
    assert report["sinks"] == {"postgres": "not probed yet"} and report["checked_s_ago"] is None


def test_an_open_breaker_makes_the_worker_unready() -> None:
    writer = Writer("redis:t:{id}")
    readiness = Readiness(App(3), {"redis": answers}, [writer])
    assert run(readiness)["ready"] is True
    writer.breaker.record_failure()  # threshold 1: open
    report = readiness.report()
    assert report["ready"] is False and report["sinks"]["redis:t:{id}"] == "breaker open"


def test_a_stale_round_is_not_ready() -> None:
    clock = Clock()
    readiness = Readiness(App(3), {"redis": answers}, [], interval=2.0, timeout=5.0, clock=clock)
    assert run(readiness)["ready"] is True
    clock.now += 9.0  # 2 * interval + timeout: the refresh task should have run by now
    assert readiness.report()["ready"] is True
    clock.now += 0.5
    report = readiness.report()
    assert report["ready"] is False and report["sinks"]["redis"].startswith("stale")


def test_a_probe_that_hangs_times_out_and_reports_never_wait_for_it() -> None:
    release = threading.Event()

    def hangs() -> str:
        release.wait(10)
        return "late"

    readiness = Readiness(App(3), {"postgres": hangs, "redis": answers}, [], timeout=0.3)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        refresh = asyncio.ensure_future(readiness.refresh())
        await asyncio.sleep(0.05)
        during = readiness.report()  # while the round is in flight: instant, from the cache
        assert not refresh.done()
        await refresh
        release.set()
        return during, readiness.report()

    during, after = asyncio.run(main())
    assert during["sinks"] == {"postgres": "not probed yet", "redis": "not probed yet"}
    assert after["sinks"] == {"postgres": "unreachable (no answer in 0.3s)", "redis": "ok"}
    assert after["ready"] is False


def test_probes_run_on_threads_of_their_own() -> None:
    seen: list[str] = []

    def where() -> str:
        seen.append(threading.current_thread().name)
        return "ok"

    run(Readiness(App(1), {"postgres": where}, []))
    assert seen and seen[0].startswith("streamapp-readyz")


def test_run_refreshes_until_cancelled() -> None:
    calls: list[int] = []

    def counts() -> str:
        calls.append(1)
        return "ok"

    readiness = Readiness(App(1), {"postgres": counts}, [], interval=0.01)

    async def main() -> None:
        task = asyncio.ensure_future(readiness.run())
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(calls) >= 3
