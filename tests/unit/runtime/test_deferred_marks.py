"""Deferred sinks in a lane: the lane goes on storing while a barrier is pending, offsets are
marked only when the barrier resolves and always in lane order, and a failed barrier stops the
worker with nothing from that batch on marked (sinks/base.py, guarantee 5)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from faust.types import TP

from streamapp.kafkaconf import KafkaSecurity
from streamapp.runtime.app import build_app
from streamapp.runtime.fastpath import BatchConsumer, _Lane

P0 = TP("orders", 0)


@dataclass
class Rec:
    offset: int


class Processor:
    """Stores return the barrier the test hands out for each batch (None: durable now)."""

    def __init__(self, barriers: list[asyncio.Future[None] | None]) -> None:
        self.barriers = barriers
        self.stored: list[int] = []
        self.flushed = 0

    async def prepare(self, batch: Any) -> Any:
        return batch[P0][-1].offset

    async def store(self, prepared: Any) -> asyncio.Future[None] | None:
        self.stored.append(prepared)
        return self.barriers.pop(0)

    async def flush(self) -> None:
        self.flushed += 1


def consumer() -> BatchConsumer:
    app = build_app(
        app_id="deferred-unit", bootstrap="127.0.0.1:1", security=KafkaSecurity(), routes=[]
    )
    c = app.consumer
    assert isinstance(c, BatchConsumer)
    return c


def batch(last: int) -> dict[TP, list[Any]]:
    return {P0: [Rec(last - 1), Rec(last)]}


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_the_lane_stores_on_while_a_barrier_is_pending_and_marks_in_order() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        first: asyncio.Future[None] = loop.create_future()
        second: asyncio.Future[None] = loop.create_future()
        proc = Processor([first, second, None])
        c = consumer()
        lane = _Lane("orders", proc)
        for last in (1, 3, 5):
            await c._run(lane, batch(last))
            await settle()
        assert proc.stored == [1, 3, 5]  # no store waited for a barrier
        assert c._processed.get(P0) is None  # nothing durable yet: nothing marked
        second.set_result(None)
        await settle()
        assert c._processed.get(P0) is None  # the second may not pass the first
        first.set_result(None)
        await settle()
        assert c._processed[P0] == 5  # then all three, in order (the third was durable now)

    asyncio.run(scenario())


def test_a_failed_barrier_stops_the_worker_and_marks_nothing_after_it() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        first: asyncio.Future[None] = loop.create_future()
        second: asyncio.Future[None] = loop.create_future()
        proc = Processor([first, second])
        c = consumer()
        crashed: list[BaseException] = []

        async def crash(exc: BaseException) -> None:
            crashed.append(exc)

        c.crash = crash  # type: ignore[method-assign]
        lane = _Lane("orders", proc)
        await c._run(lane, batch(1))
        await c._run(lane, batch(3))
        await settle()
        first.set_result(None)
        second.set_exception(RuntimeError("commit cannot succeed"))
        await settle()
        assert c._processed[P0] == 1  # the first is durable; the second is re-delivered
        assert [str(e) for e in crashed] == ["commit cannot succeed"]
        assert lane.marks is not None and lane.marks.done()
        assert isinstance(lane.marks.exception(), RuntimeError)

    asyncio.run(scenario())


def test_revocation_flushes_deferred_sinks_and_waits_for_their_marks() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        barrier: asyncio.Future[None] = loop.create_future()
        proc = Processor([barrier])
        c = consumer()
        lane = _Lane("orders", proc)
        c._lanes.append(lane)
        await c._run(lane, batch(7))
        await settle()
        loop.call_later(0.05, barrier.set_result, None)  # the flushed commit lands
        await c._settle_marks(5.0)
        assert proc.flushed == 1
        assert c._processed[P0] == 7

    asyncio.run(scenario())


def test_durable_now_batches_are_marked_at_once_when_no_mark_is_pending() -> None:
    async def scenario() -> None:
        proc = Processor([None])
        c = consumer()
        lane = _Lane("orders", proc)
        await c._run(lane, batch(9))
        await settle()
        assert c._processed[P0] == 9
        assert lane.marks is None  # no task made for the common case

    asyncio.run(scenario())
