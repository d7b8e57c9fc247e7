"""BatchConsumer.liveness: what makes /healthz fail, and what a waiting loop is excused for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from streamapp.kafkaconf import KafkaSecurity
from streamapp.runtime.app import build_app
from streamapp.runtime.fastpath import BatchConsumer


def consumer() -> BatchConsumer:
    app = build_app(
        app_id="liveness-unit", bootstrap="127.0.0.1:1", security=KafkaSecurity(), routes=[]
    )
    c = app.consumer
    assert isinstance(c, BatchConsumer)
    return c


def running(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    """As the drain loop leaves it: a live task, flow active, a pass just now."""
    c._drain_task = loop.create_future()
    c.resume_flow()
    c._loop_at = time.monotonic()


def failed(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    running(c, loop)
    assert c._drain_task is not None
    c._drain_task.set_exception(RuntimeError("no batch handler for topic 'x'"))


def stuck(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    running(c, loop)
    c._loop_at -= c.stall_after + 5


class Storing(BatchConsumer):
    storing = True  # a store in flight: it runs beside the loop, so it excuses nothing


def stuck_but_storing(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    stuck(c, loop)
    c.__class__ = Storing


class Holding:
    holding = True  # a pipeline waiting for the schema registry on purpose


def stuck_holding_for_the_registry(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    stuck(c, loop)
    c.set_handler(["held"], Holding(), "held")  # type: ignore[arg-type]


def stuck_during_rebalance(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    stuck(c, loop)
    c.stop_flow()


def loop_gone(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    stuck(c, loop)
    assert c._drain_task is not None
    c._drain_task.cancel()


def resumed_after_a_long_rebalance(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    stuck_during_rebalance(c, loop)
    c.resume_flow()  # the loop was waiting for this: its clock starts again


def crashed(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    running(c, loop)
    c._crash(ValueError("store failed"))


def not_started(c: BatchConsumer, loop: asyncio.AbstractEventLoop) -> None:
    pass


@pytest.mark.parametrize(
    ("setup", "alive", "reason"),
    [
        (not_started, True, "starting"),
        (running, True, "ok"),
        (failed, False, "batch loop failed: RuntimeError: no batch handler for topic 'x'"),
        (crashed, False, "consumer crashed: ValueError: store failed"),
        (stuck, False, "batch loop stuck: no pass for 35s (limit 30s)"),
        (loop_gone, False, "batch loop not running: no pass for 35s (limit 30s)"),
        (stuck_but_storing, False, "batch loop stuck: no pass for 35s (limit 30s)"),
        (stuck_holding_for_the_registry, True, "holding a batch until the schema registry answers"),
        (stuck_during_rebalance, True, "rebalancing or stopping"),
        (resumed_after_a_long_rebalance, True, "ok"),
    ],
)
def test_liveness(
    setup: Callable[[BatchConsumer, asyncio.AbstractEventLoop], None], alive: bool, reason: str
) -> None:
    c = consumer()
    loop = asyncio.new_event_loop()
    try:
        setup(c, loop)
        assert c.liveness() == (alive, reason)
    finally:
        task: Any = c._drain_task
        if task is not None and task.done() and not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning
        loop.close()
