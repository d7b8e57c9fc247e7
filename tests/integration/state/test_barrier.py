"""The lookup barrier on the real Kafka: a caught-up table's catch_up answers without waiting
for a reader cycle, and a table behind waits until it holds what was written before the call."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from state_harness import ChangeTopic
from test_state_reader import COLUMNS, compiled

from streamapp.decode import Decoder
from streamapp.registry import SchemaRegistry
from streamapp.settings import Settings
from streamapp.state.reader import TableReader
from streamapp.state.store import MemoryStore
from streamapp.state.table import Table
from streamapp.types import parse_type


@pytest.fixture
def customers(stack: Settings, registry_client: Any, new_topic: Any, unique: str) -> ChangeTopic:
    topic = ChangeTopic(stack, registry_client, unique, "customers", COLUMNS)
    assert new_topic("public.customers", partitions=3) == topic.topic
    return topic


def reader(stack: Settings, customers: ChangeTopic, **kwargs: Any) -> TableReader:
    decoder = Decoder(
        resolver=SchemaRegistry(stack.registry_url, settings=stack),
        hints={n: parse_type(s) for n, s in COLUMNS.items()},
    )
    table = Table("customers", ("id",), MemoryStore())
    return TableReader(compiled(customers.topic), table, decoder, settings=stack, **kwargs)


async def next_cycle(r: TableReader) -> None:
    seen = r.cycles
    while r.cycles == seen:
        await asyncio.sleep(0.005)


def test_caught_up_barrier_waits_for_no_reader_cycle(
    stack: Settings, customers: ChangeTopic
) -> None:
    """An idle reader's consumer keeps a fetch open at the broker (fetch.wait.max.ms, here 10 s)
    and its cycles are poll_timeout (5 s) apart: the end offsets must not be asked on that
    consumer's connection (the broker answers them after the fetch), so a caught-up table's
    barrier returns before the reader's next cycle."""
    for i in range(20):
        customers.send("c", lsn=100 + i, after={"id": i, "name": f"n{i}"})
    customers.flush()
    r = reader(stack, customers, conf={"fetch.wait.max.ms": 10000}, poll_timeout=5.0)

    async def run() -> list[int]:
        await r.restore(timeout=60)
        waited = []
        for _ in range(3):
            await next_cycle(r)  # the next cycle is poll_timeout away: the topic is idle
            before = r.cycles
            assert await r.catch_up(time.monotonic() + 60)
            waited.append(r.cycles - before)
        await r.stop()
        return waited

    assert asyncio.run(run()) == [0, 0, 0]
    assert len(r.table) == 20


def test_barrier_covers_records_written_before_the_call(
    stack: Settings, customers: ChangeTopic
) -> None:
    """Records written just before the call are in the table when catch_up returns, on every
    partition (nothing cached from an earlier answer)."""
    customers.send("c", lsn=10, after={"id": 0, "name": "first"})
    customers.flush()
    r = reader(stack, customers)

    async def run() -> None:
        await r.restore(timeout=60)
        for round_ in range(1, 6):
            for i in range(12):
                customers.send("c", lsn=100 * round_ + i, after={"id": i, "name": f"r{round_}"})
            customers.flush()
            assert await r.catch_up(time.monotonic() + 60)
            assert {r.table.get((i,))["name"] for i in range(12)} == {f"r{round_}"}  # type: ignore[index]
        await r.stop()

    asyncio.run(run())


def test_reader_applies_a_record_without_waiting_for_a_full_batch(
    stack: Settings, customers: ChangeTopic
) -> None:
    """A cycle takes what is queued as soon as something is: one record written to an idle
    topic is in the table long before the reader's poll_timeout (20 s) would end its wait."""
    customers.send("c", lsn=10, after={"id": 0, "name": "first"})
    customers.flush()
    r = reader(stack, customers, poll_timeout=20.0)

    async def run() -> bool:
        await r.restore(timeout=60)
        await next_cycle(r)  # now waiting in its poll
        customers.send("c", lsn=20, after={"id": 1, "name": "second"})
        customers.flush()
        caught_up = await r.catch_up(time.monotonic() + 10)  # half the poll_timeout
        customers.send("c", lsn=30, after={"id": 2, "name": "wakes the poll for stop"})
        customers.flush()
        await r.stop()
        return caught_up

    assert asyncio.run(run())
    assert r.table.get((1,))["name"] == "second"  # type: ignore[index]
