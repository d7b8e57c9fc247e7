"""Iceberg sink against the stack's PostgreSQL (SQL catalog) and a temporary file:// warehouse.

Each test uses its own catalog name (pyiceberg keys its catalog rows by it) and warehouse
directory; the catalog rows are deleted afterwards. Tables are read back with a fresh catalog,
so what a test sees is what a snapshot committed, not the sink's memory.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import load_catalog
from sinks_harness import closed_port, record

from streamapp.errors import ConfigError, SinkError
from streamapp.observability.health import sink_preflight, sink_probe
from streamapp.observability.metrics import Metrics
from streamapp.records import UNCHANGED
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.iceberg import IcebergSink
from streamapp.types import parse_type

COLUMNS = {
    "id": parse_type("int"),
    "name": parse_type("string"),
    "amount": parse_type("decimal(10,2)"),
    "note": parse_type("string"),
}


class Lake:
    """One test's catalog: makes sinks, runs bodies in a fresh loop, reads tables back."""

    def __init__(self, settings: Settings, name: str, warehouse: Path) -> None:
        props, _ = settings.iceberg_catalog()
        self.props = {**props, "warehouse": warehouse.as_uri()}
        self.name = name
        self.spec = TableSpec("sinks", f"{name}.orders", ("id",), COLUMNS)

    def sink(self, interval: float = 0.1) -> IcebergSink:
        return IcebergSink(self.props, commit_interval=interval, name=self.name)

    def run(self, body: Callable[[IcebergSink], Awaitable[Any]], interval: float = 0.1) -> Any:
        async def main() -> Any:
            sink = self.sink(interval)
            await sink.start()
            try:
                return await body(sink)
            finally:
                await sink.close()

        return asyncio.run(main())

    def write(self, table: TableSpec, *batches: list[Any]) -> list[Any]:
        async def body(sink: IcebergSink) -> list[Any]:
            await sink.ensure_table(table)
            out: list[Any] = []
            for batch in batches:
                out += await sink.write(table, batch)
            return out

        result: list[Any] = self.run(body)
        return result

    def table(self) -> Any:
        return load_catalog(self.name, **self.props).load_table((self.name, "orders"))

    def rows(self, *, deleted: bool = False) -> dict[int, dict[str, Any]]:
        """Stored rows by id; tombstones only with ``deleted=True``."""
        got = self.table().scan().to_arrow().to_pylist()
        return {r["id"]: r for r in got if deleted or not r["__deleted"]}

    def snapshots(self) -> int:
        return len(self.table().snapshots())

    def sample(self, metrics: Metrics, name: str, **labels: str) -> float | None:
        """The value of the table's sample ``name`` (labels topology and sink, and ``labels``)."""
        wanted = {"topology": self.spec.topology, "sink": f"iceberg:{self.spec.target}", **labels}
        return metrics.registry.get_sample_value(name, wanted)


@pytest.fixture
def lake(stack: Settings, unique: str, tmp_path: Path, pg_warehouse: Any) -> Iterator[Lake]:
    yield Lake(stack, unique, tmp_path / "warehouse")
    for t in ("iceberg_tables", "iceberg_namespace_properties"):
        pg_warehouse.execute(f"DELETE FROM {t} WHERE catalog_name = %s", [unique])


def test_upserts_keep_the_newest_version_and_deletes_keep_a_tombstone(lake: Lake) -> None:
    lake.write(
        lake.spec,
        [record(1, 10, name="a", amount=Decimal("1.50"), note="x"), record(2, 10, name="b")],
        [record(1, 12, name="a2", amount=Decimal("2.25"), note="y")],
        [record(1, 11, name="stale", amount=Decimal("9"), note="z")],  # older: ignored
        [record(2, 20, deleted=True)],
        [record(2, 15, name="resurrected")],  # older than the tombstone: ignored
        [record(3, 5, name="c"), record(3, 5, name="c-equal")],  # equal version: later wins
    )
    rows = lake.rows()
    assert set(rows) == {1, 3}
    assert rows[1]["name"] == "a2" and rows[1]["amount"] == Decimal("2.25")
    assert rows[1]["__version"] == 12
    assert rows[3]["name"] == "c-equal"
    tomb = lake.rows(deleted=True)[2]
    assert tomb["__deleted"] is True and tomb["__version"] == 20 and tomb["name"] is None
    assert lake.snapshots() == 4  # one per batch that changed rows; stale batches commit nothing


def test_an_equal_version_in_a_later_commit_replaces(lake: Lake) -> None:
    lake.write(lake.spec, [record(1, 7, name="first")], [record(1, 7, name="second")])
    assert lake.rows()[1]["name"] == "second"


def test_unchanged_columns_keep_the_stored_value(lake: Lake) -> None:
    lake.write(
        lake.spec,
        [record(1, 1, name="a", amount=Decimal("3.00"), note="long text")],
        [record(1, 2, name="b", amount=Decimal("4.00"), note=UNCHANGED)],
    )
    row = lake.rows()[1]
    assert (row["name"], row["note"], row["__version"]) == ("b", "long text", 2)


def test_a_new_output_column_is_added_to_the_table(lake: Lake) -> None:
    lake.write(lake.spec, [record(1, 1, name="a")])
    wider = TableSpec(
        "sinks", lake.spec.target, ("id",), {**COLUMNS, "paid_at": parse_type("timestamptz")}
    )
    paid = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    lake.write(wider, [record(2, 1, name="b", paid_at=paid)])
    assert "paid_at" in [f.name for f in lake.table().schema().fields]
    rows = lake.rows()
    assert rows[1]["paid_at"] is None and rows[2]["paid_at"] == paid


def test_a_content_refusal_is_returned_by_position_and_the_rest_stored(lake: Lake) -> None:
    rejected = lake.write(lake.spec, [record(1, 1, name="a"), record(2, 1, name=987654321)])
    assert [r.positions for r in rejected] == [(1,)]
    assert "name" in str(rejected[0].error) and "987654321" not in str(rejected[0].error)
    assert set(lake.rows()) == {1}


def test_values_parquet_or_json_cannot_hold_are_refused_before_the_commit(lake: Lake) -> None:
    cols = {**COLUMNS, "doc": parse_type("json")}
    spec = TableSpec("sinks", lake.spec.target, ("id",), cols)
    rejected = lake.write(
        spec,
        [
            record(1, 1, name="ok", doc={"a": [1, 2]}),
            record(2, 1, name="lone \ud800 surrogate"),
            record(3, 1, doc={"set": {1, 2}}),
        ],
    )
    assert sorted((r.positions, r.error.field) for r in rejected) == [((1,), "name"), ((2,), "doc")]
    assert lake.rows()[1]["doc"] == '{"a":[1,2]}' and set(lake.rows()) == {1}


def test_many_concurrent_batches_make_one_snapshot_and_return_only_once_committed(
    lake: Lake,
) -> None:
    async def body(sink: IcebergSink) -> list[int]:
        await sink.ensure_table(lake.spec)
        await sink.write(lake.spec, [record(0, 1, name="opening")])  # starts the interval
        before = lake.snapshots()

        async def one(i: int) -> None:
            await sink.write(lake.spec, [record(i, 1, name=f"n{i}"), record(i + 1000, 1)])
            # returned: its rows must already be in a committed snapshot
            assert {i, i + 1000} <= set(await asyncio.to_thread(lake.rows))

        await asyncio.gather(*(one(i) for i in range(1, 21)))
        return [before, lake.snapshots()]

    before, after = lake.run(body, interval=2.0)
    assert after == before + 1
    assert len(lake.rows()) == 41


def test_duckdb_over_the_table_equals_the_rows_written(lake: Lake) -> None:
    written = {i: Decimal(i) / 4 for i in range(1, 51)}
    lake.write(
        lake.spec,
        [record(i, 1, name=f"n{i}", amount=a) for i, a in written.items()],
        [record(7, 2, deleted=True), record(8, 2, name="n8b", amount=Decimal("100.00"))],
    )
    written.pop(7)
    written[8] = Decimal("100.00")
    con = lake.table().scan().to_duckdb("orders")
    got = con.execute("SELECT id, amount FROM orders WHERE NOT __deleted ORDER BY id").fetchall()
    assert got == sorted(written.items())
    total = con.execute("SELECT sum(amount) FROM orders WHERE NOT __deleted").fetchone()
    assert total is not None and total[0] == sum(written.values())


def test_a_batch_within_the_interval_waits_for_the_next_commit(lake: Lake) -> None:
    async def body(sink: IcebergSink) -> None:
        await sink.ensure_table(lake.spec)
        await sink.write(lake.spec, [record(1, 1, name="a")])  # commits at once, starts 5 s
        before = lake.snapshots()
        second = asyncio.create_task(sink.write(lake.spec, [record(2, 1, name="b")]))
        await asyncio.sleep(0.5)
        assert not second.done()  # held: its rows are in no snapshot yet
        assert lake.snapshots() == before and 2 not in lake.rows()
        await second
        assert lake.snapshots() == before + 1 and 2 in lake.rows()

    lake.run(body, interval=5.0)


def test_a_wider_schema_keeps_the_tables_commit_interval(lake: Lake) -> None:
    wider = TableSpec("sinks", lake.spec.target, ("id",), {**COLUMNS, "x": parse_type("int")})

    async def body(sink: IcebergSink) -> None:
        await sink.ensure_table(lake.spec)
        await sink.write(lake.spec, [record(1, 1, name="a")])  # commits at once
        await sink.ensure_table(wider)
        second = asyncio.create_task(sink.write(wider, [record(2, 1, name="b", x=7)]))
        await asyncio.sleep(0.5)
        assert not second.done()  # the same table: still one commit per interval
        await second

    lake.run(body, interval=5.0)
    assert lake.rows()[2]["x"] == 7 and lake.rows()[1]["x"] is None


def test_preflight_reaches_the_catalog_and_names_the_setting_when_it_cannot(
    stack: Settings,
) -> None:
    probe = sink_probe("iceberg", stack)
    assert probe is not None and "Iceberg sql catalog" in probe()
    env = {"STREAMAPP_ICEBERG_CATALOG_URI": f"postgresql://u:pw@127.0.0.1:{closed_port()}/x"}
    with pytest.raises(ConfigError) as err:
        sink_preflight(Settings.from_env(env), ["iceberg"])
    assert "STREAMAPP_ICEBERG_CATALOG_URI" in str(err.value) and "pw" not in str(err.value)


def test_an_unreachable_catalog_is_a_retriable_error(lake: Lake) -> None:
    props = {**lake.props, "uri": f"postgresql+psycopg://u:pw@127.0.0.1:{closed_port()}/x"}
    sink = IcebergSink(props, commit_interval=0.1, name=lake.name)
    with pytest.raises(SinkError) as err:
        asyncio.run(sink.start())
    assert err.value.retriable and "pw" not in str(err.value)
    assert asyncio.run(sink.healthy()) is False


# -- durable later: stage, barrier, flush (sinks/base.py, guarantee 5) ---------------------------


def test_staged_batches_return_at_once_and_one_snapshot_makes_them_durable(lake: Lake) -> None:
    metrics = Metrics()

    def sample(name: str, **labels: str) -> float | None:
        return lake.sample(metrics, name, **labels)

    async def body(sink: IcebergSink) -> None:
        sink.metrics = metrics  # as Runtime sets it
        await sink.ensure_table(lake.spec)
        await sink.write(lake.spec, [record(0, 1, name="opening")])  # commits, starts 3 s
        assert sample("streamapp_sink_commits_total", outcome="ok") == 1
        committed_at = sample("streamapp_sink_last_commit_timestamp_seconds")
        assert committed_at is not None and committed_at > 0
        before = lake.snapshots()
        for i in range(1, 11):  # ten batches of a lane: none waits for the interval
            await asyncio.wait_for(sink.stage(lake.spec, [record(i, 1, name=f"n{i}")]), 1.0)
        barrier = sink.barrier(lake.spec)
        assert not barrier.done()  # staged, not durable: no offset may be committed yet
        assert lake.snapshots() == before and set(lake.rows()) == {0}
        assert sample("streamapp_sink_pending_records") == 10
        await barrier
        assert lake.snapshots() == before + 1  # ten batches, one snapshot
        assert set(lake.rows()) == set(range(11))
        assert sample("streamapp_sink_pending_records") == 0
        assert sample("streamapp_sink_commits_total", outcome="ok") == 2
        assert sample("streamapp_sink_commit_seconds_count") == 2
        assert sample("streamapp_sink_commits_total", outcome="failed") is None
        assert (sample("streamapp_sink_last_commit_timestamp_seconds") or 0) > committed_at

    lake.run(body, interval=3.0)


def test_flush_commits_what_is_staged_without_waiting_for_the_interval(lake: Lake) -> None:
    async def body(sink: IcebergSink) -> None:
        await sink.ensure_table(lake.spec)
        await sink.write(lake.spec, [record(1, 1, name="a")])  # the next commit: in an hour
        await sink.stage(lake.spec, [record(2, 1, name="b")])
        await asyncio.wait_for(sink.flush(), 60)  # revocation or stop
        assert sink.barrier(lake.spec).done()
        assert set(lake.rows()) == {1, 2}

    lake.run(body, interval=3600.0)


def test_a_full_group_holds_the_next_stage_until_its_commit(lake: Lake) -> None:
    async def body(sink: IcebergSink) -> None:
        await sink.ensure_table(lake.spec)
        await sink.write(lake.spec, [record(0, 1)])  # commits, starts 2 s
        await sink.stage(lake.spec, [record(1, 1), record(2, 1)])  # the group is full (2)
        third = asyncio.create_task(sink.stage(lake.spec, [record(3, 1)]))
        await asyncio.sleep(0.5)
        assert not third.done()  # backpressure: memory stays bounded
        await asyncio.wait_for(third, 30)
        assert set(lake.rows()) == {0, 1, 2}  # it waited for the commit of the full group
        await sink.barrier(lake.spec)
        assert set(lake.rows()) == {0, 1, 2, 3}

    async def run() -> None:
        sink = IcebergSink(lake.props, commit_interval=2.0, max_pending=2, name=lake.name)
        await sink.start()
        try:
            await body(sink)
        finally:
            await sink.close()

    asyncio.run(run())


def test_a_failed_commit_is_retried_with_its_staged_rows_until_the_catalog_answers(
    lake: Lake, stack: Settings
) -> None:
    """The catalog (PostgreSQL) goes away between stage and commit: the barrier stays pending
    while the sink retries, and resolves with every staged row once the catalog is back."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "chaos"))
    from chaos_proxy import TcpProxy

    pg = stack.warehouse_dsn.split("@", 1)[1].split("/", 1)[0]
    proxy = TcpProxy(pg.rsplit(":", 1)[0], int(pg.rsplit(":", 1)[1]), name="catalog")
    port = proxy.start()
    user = stack.warehouse_dsn.split("://", 1)[1].split("@", 1)[0]
    props = {**lake.props, "uri": f"postgresql+psycopg://{user}@127.0.0.1:{port}/warehouse"}

    metrics = Metrics()

    def sample(name: str, **labels: str) -> float:
        return lake.sample(metrics, name, **labels) or 0.0

    async def body() -> None:
        sink = IcebergSink(props, commit_interval=1.0, name=lake.name)
        sink.metrics = metrics
        await sink.start()
        try:
            await sink.ensure_table(lake.spec)
            await sink.write(lake.spec, [record(1, 1, name="a")])  # commits, starts 1 s
            await sink.stage(lake.spec, [record(2, 1, name="b")])
            await asyncio.to_thread(proxy.cut, "refuse")
            barrier = sink.barrier(lake.spec)
            await asyncio.sleep(3.0)  # the commit is due after 1 s and fails while cut
            assert not barrier.done()
            # what an operator sees meanwhile: failed attempts, the staged row still pending
            assert sample("streamapp_sink_commits_total", outcome="failed") >= 1
            assert sample("streamapp_sink_commits_total", outcome="ok") == 1
            assert sample("streamapp_sink_pending_records") == 1
            await asyncio.to_thread(proxy.restore)
            await asyncio.wait_for(barrier, 60)
            assert sample("streamapp_sink_commits_total", outcome="ok") == 2
            assert sample("streamapp_sink_pending_records") == 0
        finally:
            await sink.close()

    try:
        asyncio.run(body())
    finally:
        proxy.close()
    assert set(lake.rows()) == {1, 2}
