"""Which connector heals a gap in a topic, and the heal log's records."""

from __future__ import annotations

import asyncio
import threading

import pytest

from streamapp.ops import OpsError
from streamapp.ops.autosnapshot import AutoSnapshot, connector_for
from streamapp.ops.connect import POSTGRES_CONNECTOR, ConnectorConfig
from streamapp.runtime.heallog import HealEvent

MYSQL = "io.debezium.connector.mysql.MySqlConnector"


def cfg(name: str, prefix: str, tables: str, cls: str = POSTGRES_CONNECTOR) -> ConnectorConfig:
    return ConnectorConfig(
        name, {"connector.class": cls, "topic.prefix": prefix, "table.include.list": tables}
    )


SHOP = cfg("shop", "shop", "public.orders,public.customers")
OTHER = cfg("crm", "crm", "public.orders")


def test_the_connector_whose_prefix_and_include_list_give_the_table() -> None:
    config, table = connector_for([OTHER, SHOP], "shop.public.orders")
    assert (config.name, table) == ("shop", "public.orders")


@pytest.mark.parametrize(
    ("configs", "topic", "message"),
    [
        ([SHOP], "shop.public.items", "no connector in Kafka Connect writes topic"),
        ([SHOP], "elsewhere.public.orders", "(connectors: shop)"),
        ([SHOP, cfg("twin", "shop", "public.orders")], "shop.public.orders", "several connectors"),
        ([cfg("my", "my", "inventory.orders", MYSQL)], "my.inventory.orders", "PostgreSQL sources"),
    ],
)
def test_refusals_are_one_line(configs: list[ConnectorConfig], topic: str, message: str) -> None:
    with pytest.raises(OpsError) as err:
        connector_for(configs, topic)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_heal_events_round_trip_and_foreign_records_are_skipped() -> None:
    event = HealEvent("g", "orders", "gap", "gap in topology orders: ...", 1_700_000_000_000)
    assert HealEvent.decode(event.encode()) == event
    for raw in (None, b"", b"not json", b'{"kind": "other"}', b'{"kind": "gap"}'):
        assert HealEvent.decode(raw) is None


class Scripted(AutoSnapshot):
    """AutoSnapshot whose attempts are scripted: each waits for ``go``, then signals/raises."""

    def __init__(self, outcomes: list[Exception | None]) -> None:
        super().__init__(None, note=lambda t, text: self.notes.append(text), backoff=0.0)  # type: ignore[arg-type]
        self.notes: list[str] = []
        self.outcomes = outcomes
        self.calls = 0
        self.go = threading.Event()

    def _snapshot(self, topology: str, topic: str) -> None:
        self.calls += 1
        self._signalled.add(topic)  # the signal row is written
        self.go.wait(5)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome


def test_one_snapshot_per_table_and_one_rerun_for_gaps_after_its_signal() -> None:
    async def scenario() -> Scripted:
        auto = Scripted([None, None])
        auto._signalled.clear()
        auto.request("orders", "shop.public.orders")
        auto.request("orders", "shop.public.orders")  # before the signal: shares the snapshot
        assert auto.running == ["shop.public.orders"]
        while not auto.calls:
            await asyncio.sleep(0.01)
        auto.request("orders", "shop.public.orders")  # after the signal: one re-run
        auto.request("orders", "shop.public.orders")
        auto.go.set()
        while auto.running:
            await asyncio.sleep(0.01)
        return auto

    auto = asyncio.run(scenario())
    assert auto.calls == 2


def test_failed_attempts_are_retried_then_it_gives_up_with_a_note() -> None:
    async def scenario() -> Scripted:
        auto = Scripted([OpsError("connector 'shop' is PAUSED"), OpsError("still"), OpsError("x")])
        auto.go.set()
        auto.request("orders", "shop.public.orders")
        while auto.running:
            await asyncio.sleep(0.01)
        return auto

    auto = asyncio.run(scenario())
    assert auto.calls == 3
    assert auto.notes == ["snapshot of shop.public.orders gave up: x"]


def test_a_refusal_is_not_retried() -> None:
    from streamapp.ops.autosnapshot import Refused

    async def scenario() -> Scripted:
        auto = Scripted([Refused("connector 'my' (MySqlConnector) writes ...")])
        auto.go.set()
        auto.request("orders", "my.inventory.orders")
        while auto.running:
            await asyncio.sleep(0.01)
        return auto

    auto = asyncio.run(scenario())
    assert auto.calls == 1
    assert auto.notes == [
        "snapshot of my.inventory.orders refused: connector 'my' (MySqlConnector) writes ..."
    ]


def test_a_completed_snapshot_is_swept_before_its_rerun_and_a_failed_one_is_not() -> None:
    async def scenario() -> tuple[Scripted, list[str]]:
        auto = Scripted([OpsError("paused"), None, None, OpsError("a"), OpsError("b")])
        auto.attempts = 2
        done: list[str] = []

        async def sweep(topology: str, topic: str) -> None:
            done.append(f"{topology} {topic} after call {auto.calls}")
            if len(done) == 1:
                auto.request("orders", topic)  # a gap after the signal: one re-run follows

        auto.on_done = sweep
        auto.go.set()
        auto.request("orders", "shop.public.orders")
        while auto.running:
            await asyncio.sleep(0.01)
        auto.request("orders", "shop.public.orders")  # both attempts fail: no sweep
        while auto.running:
            await asyncio.sleep(0.01)
        return auto, done

    auto, done = asyncio.run(scenario())
    assert done == [
        "orders shop.public.orders after call 2",
        "orders shop.public.orders after call 3",
    ]
    assert auto.calls == 5
