"""A real `streamapp worker` with an orders-like topology looking up a customers-like one:
enriched rows reach PostgreSQL, a late dimension row is waited for, a restart keeps the table."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from state_harness import ChangeTopic, Worker

from streamapp.settings import Settings

CUSTOMERS = {"id": "int", "name": "string", "email": "string"}
ORDERS = {"id": "int", "customer_id": "int", "total": "int"}

MODULES = {
    "customers.py": """
from streamapp.topology import Sink, Source, Topology, t
topology = Topology(
    name="{u}_customers",
    source=Source(topic="{customers}", columns={customers_cols!r}),
    key="id",
    transforms=[t.mask("email")],
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
        t.lookup("{u}_customers", on="customer_id",
                 columns={{"name": "customer_name", "email": "customer_email"}},
                 missing="wait", wait_seconds=20),
    ],
    sinks=[Sink.postgres("{u}_orders")],
)
""",
}


def rows(conn: Any, table: str) -> dict[int, tuple[Any, ...]]:
    try:
        found = conn.execute(
            f'SELECT id, customer_id, customer_name, customer_email FROM "{table}" '
            "WHERE NOT __deleted"
        ).fetchall()
    except Exception:  # noqa: BLE001 - not created yet
        return {}
    return {r[0]: tuple(r[1:]) for r in found}


def wait_rows(conn: Any, table: str, n: int, worker: Worker, timeout: float = 90) -> dict[int, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = rows(conn, table)
        if len(got) >= n:
            return got
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited; log:\n{worker.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(got)} of {n} rows after {timeout}s; log:\n{worker.tail()}")
        time.sleep(0.3)


def test_orders_enriched_from_customers_table(
    stack: Settings,
    registry_client: Any,
    new_topic: Any,
    unique: str,
    pg_warehouse: Any,
    worker: Worker,
    tmp_path: Path,
) -> None:
    customers = ChangeTopic(stack, registry_client, unique, "customers", CUSTOMERS)
    orders = ChangeTopic(stack, registry_client, unique, "orders", ORDERS)
    new_topic("public.customers", partitions=3)
    new_topic("public.orders", partitions=3)
    (tmp_path / "topologies").mkdir()
    (tmp_path / "schemas").mkdir()
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
    for i in range(1, 6):
        customers.send("c", lsn=100 + i, after={"id": i, "name": f"c{i}", "email": f"c{i}@x.org"})
    customers.flush()
    worker.start()
    try:
        for i in range(1, 11):
            orders.send("c", lsn=200 + i, after={"id": i, "customer_id": 1 + i % 5, "total": i})
        orders.send("c", lsn=300, after={"id": 11, "customer_id": None, "total": 0})
        orders.flush()
        got = wait_rows(pg_warehouse, f"{unique}_orders", 11, worker)
        assert got[3] == (4, "c4", "***")
        assert got[11] == (None, None, None)
        # an order whose customer arrives later: missing="wait" holds it until the row is there
        orders.send("c", lsn=400, after={"id": 12, "customer_id": 99, "total": 5})
        orders.flush()
        time.sleep(1.0)
        customers.send("c", lsn=401, after={"id": 99, "name": "late", "email": "l@x.org"})
        customers.flush()
        assert wait_rows(pg_warehouse, f"{unique}_orders", 12, worker)[12] == (99, "late", "***")
        # a dimension change affects facts processed after it (as_of="event")
        customers.send("u", lsn=500, after={"id": 2, "name": "renamed", "email": "c2@x.org"})
        customers.flush()
        time.sleep(0.5)
        orders.send("u", lsn=501, after={"id": 1, "customer_id": 2, "total": 1})
        orders.flush()
        deadline = time.monotonic() + 60
        while rows(pg_warehouse, f"{unique}_orders")[1][1] != "renamed":
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.3)
        assert rows(pg_warehouse, f"{unique}_orders")[6] == (2, "c2", "***")  # not re-emitted
        worker.stop()
        assert f"table {unique}_customers: 5 rows from {customers.topic} restored" in (
            worker.log.read_text()
        )
        assert (tmp_path / "state" / f"{unique}_customers").is_dir()  # RocksStore checkpoint
        worker.start()  # restart: the table is loaded from the store, then caught up
        orders.send("u", lsn=600, after={"id": 2, "customer_id": 99, "total": 2})
        orders.flush()
        deadline = time.monotonic() + 60
        while rows(pg_warehouse, f"{unique}_orders").get(2, (None,))[0] != 99:
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.3)
        assert rows(pg_warehouse, f"{unique}_orders")[2] == (99, "late", "***")
        restored = f"table {unique}_customers: 6 rows from {customers.topic} restored"
        assert restored in worker.log.read_text()
        assert "(6 entries from the store" in worker.log.read_text()
        worker.stop()
        # `replay --to` runs the orders topology alone, in this process: its lookup still reads
        # the customers table (loaded from the topology modules and the store)
        pg_warehouse.execute(f'TRUNCATE "{unique}_orders"')
        replayed = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamapp",
                "replay",
                f"{unique}_orders",
                "--from",
                "earliest",
                "--to",
                str(int(time.time() * 1000) + 600_000),  # past every record
            ],
            env=worker.env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert replayed.returncode == 0, replayed.stderr[-3000:]
        got = rows(pg_warehouse, f"{unique}_orders")
        assert len(got) == 12
        assert (got[2], got[3], got[12]) == (
            (99, "late", "***"),
            (4, "c4", "***"),
            (99, "late", "***"),
        )
    finally:
        worker.stop()
        for table in ("orders", "customers"):
            pg_warehouse.execute(f'DROP TABLE IF EXISTS "{unique}_{table}" CASCADE')
            pg_warehouse.execute(f'DROP VIEW IF EXISTS "{unique}_{table}_current" CASCADE')
