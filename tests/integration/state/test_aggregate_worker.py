"""A real `streamapp worker` keeps a per-customer aggregate of an orders-like topic in
PostgreSQL: inserts, updates (incl. moves to another customer and updates no aggregate reads),
deletes; the aggregate table equals SQL's GROUP BY over the orders table, with each group's
version the largest event version of the changes that altered it; a SIGKILL mid-stream and a
restart from the RocksStore checkpoint count nothing twice; a store rebuilt from a trimmed
topic after the base topology's module was edited keeps the aggregate current."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from state_harness import ChangeTopic, Worker

from streamapp.decode.version import postgres_version
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


class Source:
    """The orders as the source database has them, and their changes sent to the topic (kept
    in ``log``: key, row after or None, event version)."""

    def __init__(self, topic: ChangeTopic) -> None:
        self.topic = topic
        self.rows: dict[int, dict[str, Any]] = {}
        self.lsn = 1000
        self.log: list[tuple[int, dict[str, Any] | None, int]] = []

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
        sequence = json.dumps([str(self.lsn - 1), str(self.lsn)])  # as ChangeTopic sends it
        self.log.append((key, after, postgres_version(self.lsn, sequence, "false")))

    def versions(self, start: int = 0) -> dict[int, int]:
        """Per group, the largest version of the changes from ``log[start]`` on that altered
        its contributions: what a table reading the topic from there computes (a key's row
        before its first change there unknown to it)."""
        rows: dict[int, dict[str, Any] | None] = {}
        out: dict[int, int] = {}
        for key, after, version in self.log[start:]:
            a, b = self.contribution(rows.get(key)), self.contribution(after)
            rows[key] = after
            if a != b:
                for group in {c[0] for c in (a, b) if c is not None}:
                    out[group] = max(out.get(group, 0), version)
        return out

    def resend(self) -> None:
        """Every live row once more, as a compacted topic keeps each key's last change."""
        for key, row in sorted(self.rows.items()):
            self.change(key, dict(row))
        self.topic.flush()

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


def converge(
    conn: Any,
    u: str,
    source: Source,
    worker: Worker,
    want_versions: dict[int, int] | None = None,
    timeout: float = 90,
) -> None:
    """Wait until the orders and the aggregate in PostgreSQL match the source, with the group
    versions ``want_versions`` (default: those of the source's whole history)."""
    want = expected(source)
    want_versions = source.versions() if want_versions is None else want_versions
    deadline = time.monotonic() + timeout
    while True:
        live, versions, _ = stats(conn, u)
        if live == want and group_by(conn, u) == want and versions == want_versions:
            return
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited; log:\n{worker.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"aggregate {live} versions {versions}\nexpected {want} versions "
                f"{want_versions}\nGROUP BY {group_by(conn, u)}\nlog:\n{worker.tail()}"
            )
        time.sleep(0.3)


def write_modules(tmp_path: Path, u: str, topic: str) -> None:
    (tmp_path / "topologies").mkdir()
    (tmp_path / "schemas").mkdir()
    for name, text in MODULES.items():
        (tmp_path / "topologies" / name).write_text(text.format(u=u, orders=topic, cols=ORDERS))


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
    write_modules(tmp_path, u, topic.topic)
    source, rnd = Source(topic), random.Random(13)
    try:
        source.burst(rnd, 120)
        worker.start()
        converge(pg_warehouse, u, source, worker)
        _, _, deleted = stats(pg_warehouse, u)
        emptied = {g for g in source.versions() if g not in expected(source)}
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


def ends(stack: Settings, topic: str, partitions: int) -> dict[int, int]:
    """The high watermark of every partition of ``topic``."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": "ends"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def wait_committed(admin: Any, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Wait until ``group`` committed at least ``offsets`` (trimming below them is no gap)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in offsets])
    deadline = time.monotonic() + 30
    while True:
        answer = admin.list_consumer_group_offsets([request])[group].result(30)
        got = {tp.partition: tp.offset for tp in answer.topic_partitions}
        if all(got.get(p, -1) >= o for p, o in offsets.items()):
            return
        assert time.monotonic() < deadline, f"committed {got}, wanted {offsets}"
        time.sleep(0.3)


def test_aggregate_stays_current_when_its_store_is_rebuilt_from_a_trimmed_topic(
    stack: Settings,
    registry_client: Any,
    new_topic: Any,
    kafka_admin: Any,
    unique: str,
    pg_warehouse: Any,
    worker: Worker,
    tmp_path: Path,
) -> None:
    """The base topology's module is edited (its store's fingerprint changes: the store is
    emptied and rebuilt from the topic), and the topic's early history is gone (compaction
    keeps each key's last change; here: every live row sent again, the history before it
    deleted). Changes after the restart reach the aggregate table: the rebuilt groups carry
    event versions, not below the sinks' (a change counter restarted lower: rows ignored)."""
    from confluent_kafka import TopicPartition

    u = unique
    topic = ChangeTopic(stack, registry_client, unique, "orders", ORDERS)
    new_topic("public.orders", partitions=3)
    write_modules(tmp_path, u, topic.topic)
    source, rnd = Source(topic), random.Random(31)
    try:
        source.burst(rnd, 400)  # many per group: a change counter ends far above a rebuilt one
        worker.start()
        converge(pg_warehouse, u, source, worker)
        history = ends(stack, topic.topic, 3)
        kept = len(source.log)  # what the trimmed topic still has: the log from here on
        source.resend()
        converge(pg_warehouse, u, source, worker)  # same rows: no group changed
        worker.stop()
        wait_committed(kafka_admin, f"{u}-group", topic.topic, history)
        trimmed = [TopicPartition(topic.topic, p, o) for p, o in history.items() if o > 0]
        for future in kafka_admin.delete_records(trimmed).values():
            future.result(30)
        orders = tmp_path / "topologies" / "orders.py"
        edited = orders.read_text().replace(
            '    key="id",\n', '    key="id",\n    transforms=[t.filter(lambda event: True)],\n'
        )
        assert edited != orders.read_text()
        orders.write_text(
            edited.replace("import Sink, Source, Topology", "import Sink, Source, Topology, t")
        )
        source.burst(rnd, 20)  # few: a counter rebuilt from the trimmed topic stays below
        worker.start()
        full, rebuilt = source.versions(), source.versions(kept)
        # each group's row in PostgreSQL: the larger of the two stores' versions
        want = {g: max(full.get(g, 0), rebuilt.get(g, 0)) for g in {*full, *rebuilt}}
        converge(pg_warehouse, u, source, worker, want)
        loaded = [
            line for line in worker.log.read_text().splitlines() if f"table {u}_orders:" in line
        ]
        assert len(loaded) == 2 and "(0 entries from the store" in loaded[1], loaded
    finally:
        worker.stop()
        for table in ("orders", "stats"):
            pg_warehouse.execute(f'DROP TABLE IF EXISTS "{u}_{table}" CASCADE')
            pg_warehouse.execute(f'DROP VIEW IF EXISTS "{u}_{table}_current" CASCADE')


def test_build_runtime_keeps_the_aggregates_or_refuses_to_lose_them(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """``build_runtime`` keeps the aggregates it loads or is handed; a plain list of topologies
    (e.g. filtered from the loaded ones) carries none and is refused without ``aggregates=``,
    and an aggregate's table outside the list is materialised from the modules."""
    import dataclasses

    from streamapp.runtime.worker import Runtime, build_runtime
    from streamapp.transform.loader import load_topologies

    u = unique
    write_modules(tmp_path, u, f"{u}.public.orders")
    settings = dataclasses.replace(
        stack,
        topologies_dir=str(tmp_path / "topologies"),
        schemas_dir=str(tmp_path / "schemas"),
        state_dir="",
    )
    loaded = load_topologies(
        tmp_path / "topologies", secrets=settings.mask_secrets(), schemas_dir=tmp_path / "schemas"
    )

    def kept(runtime: Runtime) -> list[str]:
        try:
            assert runtime.state is not None
            aggregator = runtime.state.readers[f"{u}_orders"].aggregator
            assert aggregator is not None
            return [state.name for state in aggregator.states]
        finally:
            runtime.producer.close()

    assert kept(build_runtime(settings)) == [f"{u}_stats"]
    assert kept(build_runtime(settings, topologies=loaded)) == [f"{u}_stats"]
    with pytest.raises(ValueError, match="plain sequence, which carries no aggregates"):
        build_runtime(settings, topologies=list(loaded))
    assert kept(build_runtime(settings, topologies=[], aggregates=loaded.aggregates)) == [
        f"{u}_stats"
    ]
    alone = build_runtime(settings, topologies=list(loaded), aggregates=())
    alone.producer.close()
    assert alone.state is None  # nothing materialised without the aggregate
