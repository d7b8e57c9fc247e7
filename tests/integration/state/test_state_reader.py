"""TableReader on the real Kafka: restore from a topic, restart from a RocksStore checkpoint,
TOAST fill of a primary-key update from the old key's last image."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from state_harness import ChangeTopic

from streamapp.decode import Decoder
from streamapp.records import UNCHANGED
from streamapp.registry import SchemaRegistry
from streamapp.settings import Settings
from streamapp.state.oldkey import OLDKEY
from streamapp.state.reader import TableReader
from streamapp.state.registry import fingerprint
from streamapp.state.store import MemoryStore, RocksStore
from streamapp.state.table import Table
from streamapp.topology import Source, Topology, t
from streamapp.transform.compile import CompiledTopology, compile_topology
from streamapp.types import parse_type

COLUMNS = {"id": "int", "name": "string", "email": "string", "notes": "string"}


def compiled(topic: str) -> CompiledTopology:
    spec = Topology(
        "customers",
        Source(topic, COLUMNS),
        key="id",
        transforms=[t.mask("email")],
    )
    return compile_topology(spec, secrets={}, schemas_dir=Path("schemas"))


class CountingDecoder(Decoder):
    decoded = 0

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        self.decoded += 1
        return super().decode(*args, **kwargs)


def reader(stack: Settings, topology: CompiledTopology, table: Table) -> TableReader:
    decoder = CountingDecoder(
        resolver=SchemaRegistry(stack.registry_url, settings=stack),
        hints={n: parse_type(s) for n, s in COLUMNS.items()},
        strict_versions=True,
    )
    return TableReader(topology, table, decoder, settings=stack)


async def restore(r: TableReader) -> None:
    await r.restore(timeout=60)


@pytest.fixture
def customers(stack: Settings, registry_client: Any, new_topic: Any, unique: str) -> ChangeTopic:
    topic = ChangeTopic(stack, registry_client, unique, "customers", COLUMNS)
    new_topic_name = new_topic("public.customers", partitions=3)
    assert new_topic_name == topic.topic
    return topic


def test_restore_then_restart_from_checkpoint(
    stack: Settings, customers: ChangeTopic, tmp_path: Path
) -> None:
    for i in range(1, 31):
        customers.send("c", lsn=100 + i, after={"id": i, "name": f"n{i}", "email": f"e{i}@x"})
    customers.send("u", lsn=200, after={"id": 3, "name": "renamed", "email": "e3@x"})
    customers.send("d", lsn=201, before={"id": 4})
    customers.flush()
    topology = compiled(customers.topic)
    store = RocksStore(tmp_path / "customers", fingerprint(topology))
    first = reader(stack, topology, Table("customers", ("id",), store))

    async def run_first() -> None:
        await restore(first)
        await first.stop()

    asyncio.run(run_first())
    table = first.table
    assert len(table) == 29
    assert table.get((3,)) == {"id": 3, "name": "renamed", "email": "***", "notes": None}
    assert table.get((4,)) is None and table.last_image((4,))["name"] == "n4"  # type: ignore[index]
    assert first.decoder.decoded == 32  # type: ignore[attr-defined]

    customers.send("u", lsn=300, after={"id": 5, "name": "later", "email": "e5@x"})
    customers.flush()
    store = RocksStore(tmp_path / "customers", fingerprint(topology))
    second = reader(stack, topology, Table("customers", ("id",), store))

    async def run_second() -> None:
        await restore(second)
        await second.stop()

    asyncio.run(run_second())
    assert second.decoder.decoded == 1  # type: ignore[attr-defined]  # only what came after
    assert second.table.get((5,))["name"] == "later"  # type: ignore[index]
    assert second.table.get((3,))["name"] == "renamed"  # type: ignore[index]  # from the store
    assert len(second.table) == 29
    assert sum(second.table.position().values()) == 33


def test_pk_update_fills_toasted_column_from_old_key(
    stack: Settings, customers: ChangeTopic
) -> None:
    customers.send("c", lsn=100, after={"id": 1, "name": "a", "notes": "long text " * 300})
    customers.flush()
    topology = compiled(customers.topic)
    r = reader(stack, topology, Table("customers", ("id",), MemoryStore()))

    async def run() -> None:
        await restore(r)  # the old key's row is in the table before it moves
        # UPDATE ... SET id = 2 WHERE id = 1, as Debezium emits it with the default identity
        customers.send("d", lsn=110, before={"id": 1})
        customers.send(
            "c",
            lsn=110,
            after={"id": 2, "name": "a"},
            unchanged=["notes"],
            headers=[(OLDKEY, customers.key_bytes({"id": 1}))],
        )
        customers.send("c", lsn=120, after={"id": 3, "name": "b"}, unchanged=["notes"])
        customers.flush()
        assert await r.catch_up(time.monotonic() + 30)
        await r.stop()

    asyncio.run(run())
    assert r.table.get((1,)) is None
    assert r.table.get((2,))["notes"] == "long text " * 300  # type: ignore[index]
    assert r.table.get((3,))["notes"] is UNCHANGED  # no old key: the value stays unknown
