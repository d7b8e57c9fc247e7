"""A real `streamapp worker` keeps a per-customer aggregate of an orders-like topic in
PostgreSQL: inserts, updates (incl. moves to another customer and updates no aggregate reads),
deletes; the aggregate table equals SQL's GROUP BY over the orders table, with each group's
version the number of changes that touched it; a SIGKILL mid-stream and a restart from the
RocksStore checkpoint count nothing twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from state_harness import ChangeTopic

from streamapp.settings import Settings

ORDERS = {
    "id": "int",
    "customer_id": "int",
    "total": "decimal(12,2)",
    "placed_at": "timestamp",
    "status": "string",
}

MODULES = {
    "orders.py": """
from streamapp.topology import Sink, Source, Topology
topology = Topology(
    name="{u}_orders",
    source=Source(topic="{orders}", columns={cols!r}),
    key="id",
    sinks=[Sink.postgres("{u}_orders")],
)
""",
    "stats.py": """
from streamapp.topology import Aggregate, Sink, agg
topology = Aggregate(
    name="{u}_stats",
    table="{u}_orders",
    group_by="customer_id",
    columns={{
        "order_count": agg.count(),
        "total_spent": agg.sum("total"),
        "last_order_at": agg.max("placed_at"),
        "first_order_at": agg.min("placed_at"),
    }},
    sinks=[Sink.postgres("{u}_stats")],
)
""",
}
EPOCH = datetime(2024, 1, 1)


class Worker:
    def __init__(self, tmp: Path, unique: str) -> None:
        self.tmp, self.unique, self.log = tmp, unique, tmp / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(
            os.environ,
            STREAMAPP_TOPOLOGIES_DIR=str(self.tmp / "topologies"),
            STREAMAPP_SCHEMAS_DIR=str(self.tmp / "schemas"),
            STREAMAPP_GROUP_ID=f"{self.unique}-group",
            STREAMAPP_CLICKHOUSE_DSN=f"chdb://{self.tmp / 'chdb'}",
            STREAMAPP_STATE_DIR=str(self.tmp / "state"),
            STREAMAPP_WEB_PORT="0",
        )
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamapp", "worker", "--batch-max-wait", "0.05"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture
def worker(tmp_path: Path, unique: str) -> Iterator[Worker]:
    w = Worker(tmp_path, unique)
    yield w
    w.stop()


class Source:
    """The orders as the source database has them, their changes sent to the topic, and the
    expected group versions: per group, the changes that altered its contributions."""

    def __init__(self, topic: ChangeTopic) -> None:
        self.topic = topic
        self.rows: dict[int, dict[str, Any]] = {}
        self.lsn = 1000
        self.versions: dict[int, int] = {}

    @staticmethod
    def contribution(row: dict[str, Any] | None) -> tuple[Any, ...] | None:
        if row is None or row["customer_id"] is None:
            return None
        return (row["customer_id"], row["total"], row["placed_at"])

    def change(self, key: int, after: dict[str, Any] | None) -> None:
        before = self.rows.get(key)
        self.lsn += 10
        if after is None:
            assert before is not None
            self.topic.send("d", lsn=self.lsn, before=before)
            del self.rows[key]
        else:
            after = {"id": key, **after}
            self.topic.send("c" if before is None else "u", lsn=self.lsn, after=after)
            self.rows[key] = after
        a, b = self.contribution(before), self.contribution(after)
        if a != b:
            for group in {c[0] for c in (a, b) if c is not None}:
                self.versions[group] = self.versions.get(group, 0) + 1

    def burst(self, rnd: random.Random, n: int) -> None:
        """``n`` random changes: inserts, updates (total, customer, status only), deletes."""
        for _ in range(n):
            key = rnd.randint(1, 40)
            row = self.rows.get(key)
            pick = rnd.random()
            if row is None:
                self.change(key, new_row(rnd))
            elif pick < 0.2:
                self.change(key, None)
            elif pick < 0.4:
                self.change(key, {**row, "customer_id": rnd.choice([1, 2, 3, 4, 5, None])})
            elif pick < 0.6:
                self.change(key, {**row, "status": rnd.choice(["new", "paid", "sent"])})
            else:
                self.change(key, {**row, **new_row(rnd), "customer_id": row["customer_id"]})
        self.topic.flush()


def new_row(rnd: random.Random) -> dict[str, Any]:
    return {
        "customer_id": rnd.choice([1, 2, 3, 4, 5]),
        "total": Decimal(rnd.randint(1, 99999)) / 100,
        "placed_at": EPOCH + timedelta(minutes=rnd.randint(0, 10_000)),
        "status": "new",
    }


def query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    except Exception:  # noqa: BLE001 - a table not created yet
        return []


def group_by(conn: Any, u: str) -> dict[int, tuple[Any, ...]]:
    """The aggregate as SQL computes it over the orders the worker stored."""
    rows = query(
        conn,
        "SELECT customer_id, count(*), sum(total), max(placed_at), min(placed_at) "
        f'FROM "{u}_orders" WHERE NOT __deleted AND customer_id IS NOT NULL '
        "GROUP BY customer_id",
    )
    return {r[0]: r[1:] for r in rows}


def stats(conn: Any, u: str) -> tuple[dict[int, tuple[Any, ...]], dict[int, int], set[int]]:
    """The aggregate table: live groups, every group's version, the deleted groups."""
    rows = query(
        conn,
        "SELECT customer_id, order_count, total_spent, last_order_at, first_order_at, "
        f'__version, __deleted FROM "{u}_stats"',
    )
    live = {r[0]: r[1:5] for r in rows if not r[6]}
    return live, {r[0]: r[5] for r in rows}, {r[0] for r in rows if r[6]}


def expected(source: Source) -> dict[int, tuple[Any, ...]]:
    out: dict[int, list[Any]] = {}
    for row in source.rows.values():
        if row["customer_id"] is None:
            continue
        g = out.setdefault(row["customer_id"], [0, Decimal(0), None, None])
        g[0] += 1
        g[1] += row["total"]
        g[2] = row["placed_at"] if g[2] is None else max(g[2], row["placed_at"])
        g[3] = row["placed_at"] if g[3] is None else min(g[3], row["placed_at"])
    return {k: tuple(v) for k, v in out.items()}


def converge(conn: Any, u: str, source: Source, worker: Worker, timeout: float = 90) -> None:
    """Wait until the orders and the aggregate in PostgreSQL match the source."""
    want = expected(source)
    deadline = time.monotonic() + timeout
    while True:
        live, versions, _ = stats(conn, u)
        if live == want and group_by(conn, u) == want and versions == source.versions:
            return
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited; log:\n{worker.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"aggregate {live} versions {versions}\nexpected {want} versions "
                f"{source.versions}\nGROUP BY {group_by(conn, u)}\nlog:\n{worker.tail()}"
            )
        time.sleep(0.3)


def test_aggregate_matches_group_by_through_a_kill_and_restart(
    stack: Settings,
    registry_client: Any,
    new_topic: Any,
    unique: str,
    pg_warehouse: Any,
    worker: Worker,
    tmp_path: Path,
) -> None:
    u = unique
    topic = ChangeTopic(stack, registry_client, unique, "orders", ORDERS)
    new_topic("public.orders", partitions=3)
    (tmp_path / "topologies").mkdir()
    (tmp_path / "schemas").mkdir()
    for name, text in MODULES.items():
        (tmp_path / "topologies" / name).write_text(
            text.format(u=u, orders=topic.topic, cols=ORDERS)
        )
    source, rnd = Source(topic), random.Random(13)
    try:
        source.burst(rnd, 120)
        worker.start()
        converge(pg_warehouse, u, source, worker)
        _, _, deleted = stats(pg_warehouse, u)
        emptied = {g for g in source.versions if g not in expected(source)}
        assert deleted == emptied  # a group without rows is a delete (tombstone) in the sink
        # mid-stream: more changes, the worker is SIGKILLed while it applies them, more
        # changes while it is down; the restart loads the checkpoint and re-reads the rest
        source.burst(rnd, 150)
        time.sleep(1.2)  # about one checkpoint (1 s) into the burst
        worker.kill()
        source.burst(rnd, 100)
        worker.start()
        converge(pg_warehouse, u, source, worker)
        log = worker.log.read_text()
        loaded = [line for line in log.splitlines() if f"table {u}_orders:" in line]
        assert len(loaded) == 2, log
        assert "(0 entries from the store" not in loaded[1]  # restored from the RocksStore
        assert (tmp_path / "state" / f"{u}_orders").is_dir()
    finally:
        worker.stop()
        for table in ("orders", "stats"):
            pg_warehouse.execute(f'DROP TABLE IF EXISTS "{u}_{table}" CASCADE')
            pg_warehouse.execute(f'DROP VIEW IF EXISTS "{u}_{table}_current" CASCADE')
