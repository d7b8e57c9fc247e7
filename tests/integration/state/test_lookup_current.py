"""as_of="current" on the real stack: a worker with orders looking up customers writes to
PostgreSQL, and the orders table ends equal to the LEFT JOIN of the current source tables after
dimension updates, deletes, late creates, fact moves (also one whose change arrives after a
newer dimension change) and a re-delivered dimension history."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from state_harness import ChangeTopic, Worker

from streamapp.settings import Settings

CUSTOMERS = {"id": "int", "name": "string"}
ORDERS = {"id": "int", "customer_id": "int", "total": "int"}

MODULES = {
    "customers.py": """
from streamapp.topology import Sink, Source, Topology
topology = Topology(
    name="{u}_customers",
    source=Source(topic="{customers}", columns={customers_cols!r}),
    key="id",
    sinks=[Sink.postgres("{u}_customers")],
)
""",
    "orders.py": """
from streamapp.topology import Sink, Source, Topology, t
topology = Topology(
    name="{u}_orders",
    source=Source(topic="{orders}", columns={orders_cols!r}),
    key="id",
    transforms=[
        t.lookup("{u}_customers", on="customer_id", columns={{"name": "customer_name"}},
                 as_of="current"),
    ],
    sinks=[Sink.postgres("{u}_orders")],
)
""",
}


class Source:
    """The two source tables as the test changes them, and their changes on the topics."""

    def __init__(self, customers: ChangeTopic, orders: ChangeTopic) -> None:
        self.customers_topic, self.orders_topic = customers, orders
        self.customers: dict[int, str] = {}
        self.orders: dict[int, tuple[int | None, int]] = {}

    def customer(self, op: str, key: int, lsn: int, name: str = "") -> None:
        row = {"id": key, "name": name}
        if op == "d":
            self.customers_topic.send("d", lsn=lsn, before=row)
            del self.customers[key]
        else:
            self.customers_topic.send(op, lsn=lsn, after=row)
            self.customers[key] = name
        self.customers_topic.flush()

    def order(self, op: str, key: int, lsn: int, customer: int | None, total: int) -> None:
        self.orders_topic.send(
            op, lsn=lsn, after={"id": key, "customer_id": customer, "total": total}
        )
        self.orders[key] = (customer, total)
        self.orders_topic.flush()

    def join(self) -> dict[int, tuple[Any, ...]]:
        """orders LEFT JOIN customers, as the sink must end."""
        return {
            k: (c, total, self.customers.get(c) if c is not None else None)
            for k, (c, total) in self.orders.items()
        }


def stored(conn: Any, table: str) -> dict[int, tuple[Any, ...]]:
    try:
        found = conn.execute(
            f'SELECT id, customer_id, total, customer_name FROM "{table}" WHERE NOT __deleted'
        ).fetchall()
    except Exception:  # noqa: BLE001 - not created yet
        return {}
    return {r[0]: tuple(r[1:]) for r in found}


def converge(conn: Any, table: str, want: Callable[[], dict[int, Any]], worker: Worker) -> None:
    deadline = time.monotonic() + 90
    while True:
        got, expected = stored(conn, table), want()
        if got == expected:
            return
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited; log:\n{worker.tail()}")
        if time.monotonic() > deadline:
            diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
            raise AssertionError(f"stored != join: {diff}; log:\n{worker.tail()}")
        time.sleep(0.3)


@pytest.fixture
def setup(
    stack: Settings,
    registry_client: Any,
    new_topic: Any,
    unique: str,
    pg_warehouse: Any,
    tmp_path: Path,
) -> Iterator[tuple[Source, Worker]]:
    customers = ChangeTopic(stack, registry_client, unique, "customers", CUSTOMERS)
    orders = ChangeTopic(stack, registry_client, unique, "orders", ORDERS)
    new_topic("public.customers", partitions=3)
    new_topic("public.orders", partitions=3)
    for folder in ("topologies", "schemas"):
        (tmp_path / folder).mkdir()
    for name, text in MODULES.items():
        (tmp_path / "topologies" / name).write_text(
            text.format(
                u=unique,
                customers=customers.topic,
                orders=orders.topic,
                customers_cols=CUSTOMERS,
                orders_cols=ORDERS,
            )
        )
    worker = Worker(tmp_path, unique)
    try:
        yield Source(customers, orders), worker
    finally:
        worker.stop()
        for table in ("orders", "customers"):
            pg_warehouse.execute(f'DROP TABLE IF EXISTS "{unique}_{table}" CASCADE')
            pg_warehouse.execute(f'DROP VIEW IF EXISTS "{unique}_{table}_current" CASCADE')


def test_facts_follow_dimension_changes(
    setup: tuple[Source, Worker], pg_warehouse: Any, unique: str
) -> None:
    src, worker = setup
    table = f"{unique}_orders"
    for key in (1, 2, 3, 4):
        src.customer("c", key, lsn=100 + key, name=f"c{key}")
    worker.start()
    for key in range(1, 7):
        src.order("c", key, lsn=200 + key, customer=1 + key % 3, total=key)
    src.order("c", 7, lsn=207, customer=99, total=7)  # its customer is not there yet: nulls
    src.order("c", 8, lsn=208, customer=None, total=8)
    converge(pg_warehouse, table, src.join, worker)

    src.customer("u", 1, lsn=301, name="c1-new")  # update: every order of customer 1
    converge(pg_warehouse, table, src.join, worker)
    src.customer("d", 2, lsn=302)  # delete: its orders get nulls
    converge(pg_warehouse, table, src.join, worker)
    src.customer("c", 99, lsn=303, name="late")  # the missing row arrives: order 7 filled
    converge(pg_warehouse, table, src.join, worker)
    src.order("u", 1, lsn=304, customer=3, total=10)  # a fact moves to another customer
    src.customer("u", 3, lsn=305, name="c3-new")
    converge(pg_warehouse, table, src.join, worker)
    assert stored(pg_warehouse, table)[1] == (3, 10, "c3-new")

    # A move whose change reaches its topic after a newer customer change was re-emitted (the
    # connector's topics are not ordered with each other): with the fact's own version (or
    # max(fact, its new customer row)) the sink would keep the row re-emitted at version 305.
    # The worker is stopped meanwhile, so that only the orders' lane can write the move.
    worker.stop()
    src.order("u", 2, lsn=280, customer=4, total=20)  # order 2 was at customer 3 (v 305)
    worker.start()
    converge(pg_warehouse, table, src.join, worker)
    assert stored(pg_warehouse, table)[2] == (4, 20, "c4")


def test_redelivered_dimension_history_converges(
    setup: tuple[Source, Worker], pg_warehouse: Any, unique: str, stack: Settings
) -> None:
    src, worker = setup
    table = f"{unique}_orders"
    for key in (1, 2):
        src.customer("c", key, lsn=100 + key, name=f"c{key}")
    worker.start()
    for key in range(1, 5):
        src.order("c", key, lsn=200 + key, customer=1 + key % 2, total=key)
    src.customer("u", 1, lsn=300, name="c1-new")
    converge(pg_warehouse, table, src.join, worker)
    worker.stop()
    # the sink loses the looked-up values (same versions), and the customers' offsets go back
    # to the beginning: only the re-delivered dimension batches can write them again
    pg_warehouse.execute(f"UPDATE \"{table}\" SET customer_name = 'lost'")
    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": f"{unique}-group"})
    try:
        topic = src.customers_topic.topic
        consumer.commit(offsets=[TopicPartition(topic, p, 0) for p in range(3)], asynchronous=False)
    finally:
        consumer.close()
    worker.start()
    converge(pg_warehouse, table, src.join, worker)
