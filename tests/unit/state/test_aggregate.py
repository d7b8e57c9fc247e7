"""Aggregates: compile problems and types, incremental changes with retractions, emit, reload."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from agg_fixtures import STATS, aggregate, order, orders_topology

from streamapp.errors import SinkError
from streamapp.observability.metrics import Metrics
from streamapp.pipeline import default_writer
from streamapp.records import OutputRecord
from streamapp.sinks.base import Rejected, Sink, TableSpec
from streamapp.state.aggemit import Aggregator, versions
from streamapp.state.aggregate import recompute
from streamapp.state.store import RocksStore
from streamapp.state.table import Table
from streamapp.topology import Aggregate, Output, agg
from streamapp.topology import Sink as SinkSpec
from streamapp.transform.aggspec import compile_aggregate
from streamapp.types import parse_type

T1, T2, T3 = datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 3, 1)


def spec(**kw: Any) -> Aggregate:
    fields: dict[str, Any] = {
        "name": "stats",
        "table": "orders",
        "group_by": "customer_id",
        "columns": {"n": agg.count()},
    }
    fields.update(kw)
    return Aggregate(**fields)


@pytest.mark.parametrize(
    ("kw", "problem"),
    [
        (
            {"table": "ordres"},
            "table='ordres' is not a topology (known: orders); aggregate a topology declared in "
            "a module",
        ),
        (
            {"group_by": "customer"},
            "group_by: 'customer' is not an output column of 'orders'; did you mean 'customer_id'?",
        ),
        ({"group_by": ()}, "group_by is empty; name the column(s) of the table that make a group"),
        (
            {"group_by": "doc"},
            "group_by column 'doc' is json; a group_by column must be a scalar",
        ),
        (
            {"columns": {"s": agg.sum("status")}},
            "columns['s']: agg.sum('status'): 'status' is string; sum needs int, float or decimal",
        ),
        (
            {"columns": {"m": agg.max("doc")}},
            "columns['m']: agg.max('doc'): 'doc' is json, which has no order",
        ),
        (
            {"columns": {"s": agg.sum("totl")}},
            "columns['s']: agg.sum('totl'): 'totl' is not an output column of 'orders'; did you "
            "mean 'total'?",
        ),
        (
            {"columns": {"s": "sum(total)"}},
            "columns['s']: not an aggregate; use agg.count(), agg.sum/min/max('column')",
        ),
        (
            {"columns": {"customer_id": agg.count()}},
            "columns['customer_id']: 'customer_id' is a group_by column; give the aggregate "
            "another name",
        ),
        (
            {"columns": {"__version": agg.count()}},
            "columns['__version']: '__version' is reserved for the sinks' bookkeeping; rename it",
        ),
        ({"columns": {}}, "columns must be a non-empty dict of name -> agg.count/sum/min/max(...)"),
        ({"where": 3}, "where must be a function of the row (or None)"),
        (
            {"output": Output("stats")},
            "output topics are not supported for aggregates yet; write them to sinks",
        ),
        (
            {"sinks": [SinkSpec.redis("stats:{n}")]},
            "Sink.redis('stats:{n}'): the key template names 'n', which is not a key column; a "
            "delete carries only the key, so name key columns only (customer_id)",
        ),
        (
            {"name": "bad name"},
            "name 'bad name': an aggregate name is letters, digits, '_', '.', '-' and starts with "
            "a letter or digit",
        ),
    ],
)
def test_compile_problems_are_one_line_each(kw: dict[str, Any], problem: str) -> None:
    compiled, problems = compile_aggregate(spec(**kw), {"orders": orders_topology()})
    assert compiled is None
    assert problems == [problem]


def test_output_columns_are_typed_from_the_table() -> None:
    compiled = aggregate()
    assert {k: str(v) for k, v in compiled.output_columns.items()} == {
        "customer_id": "int",
        "order_count": "int",
        "total_spent": "decimal(38,2)",
        "items": "int",
        "first_order_at": "timestamp",
        "last_order_at": "timestamp",
        "with_qty": "int",
    }
    assert compiled.key_columns == ("customer_id",)


def run(changes: Sequence[OutputRecord], **kw: Any) -> tuple[Table, Aggregator]:
    table = Table("orders", ("id",))
    aggregator = Aggregator(table, [(aggregate(**kw), [])])
    aggregator.apply(changes)
    return table, aggregator


def group(aggregator: Aggregator, key: Any) -> tuple[dict[str, Any] | None, int]:
    state = aggregator.states[0]
    return state.row((key,)), state.groups[(key,)].version


def row(count: int, total: str, items: int, first: Any, last: Any, with_qty: int) -> dict[str, Any]:
    return {
        "order_count": count,
        "total_spent": Decimal(total) if total else None,
        "items": items if with_qty else None,
        "first_order_at": first,
        "last_order_at": last,
        "with_qty": with_qty,
    }


def o(key: int, version: int, customer: Any = 1, total: str = "1.00", **kw: Any) -> OutputRecord:
    values = {"customer_id": customer, "total": Decimal(total), "qty": 1, "placed_at": T1, **kw}
    return order(key, version, **values)


CASES: list[tuple[str, list[OutputRecord], dict[int, tuple[dict[str, Any] | None, int]]]] = [
    (
        "inserts add",
        [o(1, 10, total="2.50"), o(2, 11, total="1.25", placed_at=T2)],
        {1: (row(2, "3.75", 2, T1, T2, 2), 11)},
    ),
    (
        "an update subtracts the old row and adds the new one",
        [o(1, 10, total="2.50"), o(1, 12, total="4.00", qty=3)],
        {1: (row(1, "4.00", 3, T1, T1, 1), 12)},
    ),
    (
        "an update of a column no aggregate reads changes nothing",
        [o(1, 10, status="new"), o(1, 12, status="paid")],
        {1: (row(1, "1.00", 1, T1, T1, 1), 10)},
    ),
    (
        "a group_by change moves the contribution",
        [o(1, 10), o(2, 11, total="5.00"), o(2, 12, customer=2, total="5.00")],
        {1: (row(1, "1.00", 1, T1, T1, 1), 12), 2: (row(1, "5.00", 1, T1, T1, 1), 12)},
    ),
    (
        "a delete subtracts; the empty group is gone, the delete's version kept",
        [o(1, 10), o(1, 11, deleted=True)],
        {1: (None, 11)},
    ),
    (
        "a group created again gets the version of the change that refills it",
        [o(1, 10), o(1, 11, deleted=True), o(2, 12)],
        {1: (row(1, "1.00", 1, T1, T1, 1), 12)},
    ),
    (
        "a group refilled by an older change read late (another partition) keeps the delete's",
        [o(1, 10), o(1, 12, deleted=True), o(2, 11)],
        {1: (row(1, "1.00", 1, T1, T1, 1), 12)},
    ),
    (
        "a retracted maximum is recomputed from the group's live rows",
        [
            o(1, 10, placed_at=T1),
            o(2, 11, placed_at=T3),
            o(3, 12, placed_at=T2),
            o(2, 13, deleted=True),
        ],
        {1: (row(2, "2.00", 2, T1, T2, 2), 13)},
    ),
    (
        "a retracted minimum moved to another group is recomputed in the old one",
        [o(1, 10, placed_at=T1), o(2, 11, placed_at=T2), o(1, 12, customer=2, placed_at=T1)],
        {1: (row(1, "1.00", 1, T2, T2, 1), 12), 2: (row(1, "1.00", 1, T1, T1, 1), 12)},
    ),
    (
        "a redelivered change (same version) and an older one change nothing",
        [o(1, 10, total="3.00"), o(1, 12, total="4.00"), o(1, 12, total="4.00"), o(1, 10)],
        {1: (row(1, "4.00", 1, T1, T1, 1), 12)},
    ),
    (
        "NULLs: a NULL group_by belongs to no group; sum/min/max skip NULLs",
        [o(1, 10, customer=None), o(2, 11, qty=None, placed_at=None)],
        {1: (row(1, "1.00", 0, None, None, 0), 11)},
    ),
    (
        "a delete of a key never seen changes nothing",
        [o(9, 10, deleted=True)],
        {},
    ),
    (
        "decimal sums stay exact over many retractions",
        [o(1, 10 + i, total=f"{i}.01") for i in range(50)] + [o(1, 100, total="0.10")],
        {1: (row(1, "0.10", 1, T1, T1, 1), 100)},
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_incremental_changes(
    changes: list[OutputRecord], expected: dict[int, tuple[dict[str, Any] | None, int]]
) -> None:
    table, aggregator = run(changes)
    state = aggregator.states[0]
    for customer, (want, version) in expected.items():
        got, got_version = group(aggregator, customer)
        assert (got, got_version) == ({"customer_id": customer, **want} if want else None, version)
    assert set(state.groups) == {(c,) for c in expected}
    live = [r for _, r in table.rows()]
    assert {k: state.row(k) for k in state.groups if state.row(k)} == recompute(
        state.compiled, live
    )


def test_where_restricts_rows_and_a_failing_where_counts_nowhere() -> None:
    def paid(row: Any) -> bool:
        return row["status"].startswith("p")  # None raises: that row counts nowhere

    changes = [o(1, 10, status="paid"), o(2, 11, status="new"), o(3, 12, status=None)]
    _, aggregator = run(changes, columns={"n": agg.count()}, where=paid)
    assert group(aggregator, 1) == ({"customer_id": 1, "n": 1}, 10)
    assert aggregator.states[0].where_failures == 1
    aggregator.apply([o(2, 13, status="paid")])  # leaves the filter: added
    assert group(aggregator, 1) == ({"customer_id": 1, "n": 2}, 13)


def test_records_are_upserts_and_deletes_with_the_group_version() -> None:
    _, aggregator = run([o(1, 10), o(2, 11, customer=2), o(2, 12, deleted=True)])
    state = aggregator.states[0]
    records = {r.key: r for r in state.records(sorted(state.dirty))}
    assert records[(1,)].deleted is False and records[(1,)].version == 10
    assert records[(1,)].value["order_count"] == 1
    assert records[(2,)].deleted is True and records[(2,)].version == 12
    assert records[(2,)].value == {"customer_id": 2}
    assert records[(2,)].source_ts_ms == 1012


class Recording(Sink):
    """An in-memory sink: keeps the highest version per key like the real ones."""

    kind = "recording"

    def __init__(self, refuse: int | None = None, fail: bool = False) -> None:
        self.rows: dict[Any, OutputRecord] = {}
        self.refuse, self.fail = refuse, fail

    async def start(self) -> None: ...

    async def ensure_table(self, table: TableSpec) -> None: ...

    def precheck(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        return [
            Rejected((i,), SinkError("refused"))
            for i, r in enumerate(records)
            if r.key == (self.refuse,)
        ]

    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        if self.fail:
            raise SinkError("down for good", retriable=False)
        for r in records:
            stored = self.rows.get(r.key)
            if stored is None or r.version >= stored.version:
                self.rows[r.key] = r
        return []

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None: ...


def writer_for(sink: Recording, compiled: Any) -> Any:
    return default_writer(
        sink,
        TableSpec(compiled.name, "stats", compiled.key_columns, compiled.output_columns),
    )


def test_emit_then_checkpoint_then_reload_keeps_versions(tmp_path: Path) -> None:
    compiled = aggregate()
    sink = Recording()
    table = Table("orders", ("id",), RocksStore(tmp_path / "orders", "fp"))
    aggregator = Aggregator(table, [(compiled, [writer_for(sink, compiled)])])
    aggregator.apply([o(1, 10), o(2, 11, customer=2), o(3, 12, placed_at=T3)])
    assert asyncio.run(aggregator.emit()) == 2
    assert {k: r.version for k, r in sink.rows.items()} == {(1,): 12, (2,): 11}
    assert not aggregator.dirty
    extra = aggregator.extra()
    assert versions(extra) == {
        ("customer_order_stats", (1,)): 12,
        ("customer_order_stats", (2,)): 11,
    }
    table.checkpoint(extra)
    aggregator.saved()
    assert aggregator.extra() == {}
    table.close()
    again = Table("orders", ("id",), RocksStore(tmp_path / "orders", "fp"))
    reloaded = Aggregator(again, [(compiled, [])])
    again.load()
    reloaded.load()
    assert not reloaded.dirty
    state = reloaded.states[0]
    assert state.groups[(1,)].version == 12 and state.row((1,)) == aggregator.states[0].row((1,))
    reloaded.apply([o(3, 13, deleted=True)])  # the max is recomputed from the loaded rows
    assert state.row((1,))["last_order_at"] == T1 and state.groups[(1,)].version == 13
    again.close()


def sink_view(sink: Recording) -> dict[Any, Any]:
    """What the sink shows: live group rows, and None for the deleted groups."""
    return {k: None if r.deleted else r.value for k, r in sink.rows.items()}


def test_a_rebuilt_table_writes_rows_the_sinks_take() -> None:
    """A store rebuilt from a compacted topic (the base topology's module was edited, or a new
    worker has an in-memory store): its groups' versions must not fall below what the sinks
    hold, or the sinks ignore the new rows (a change counter restarts lower: they did)."""
    compiled = aggregate()
    sink = Recording()
    history = [o(1, 10), o(2, 11), o(3, 12, customer=2), o(4, 13, customer=3)]
    history += [o(1, 14 + i, total=f"{i}.50") for i in range(20)]  # many changes of group 1
    history += [o(2, 40, customer=2), o(4, 41, deleted=True), o(3, 42, customer=2, total="7.00")]
    first = Aggregator(Table("orders", ("id",)), [(compiled, [writer_for(sink, compiled)])])
    first.apply(history)
    asyncio.run(first.emit())
    held = {k: r.version for k, r in sink.rows.items()}
    assert held == {(1,): 40, (2,): 42, (3,): 41}
    # the topic after compaction: each key's last change (the delete's tombstone is gone too)
    last = {r.key: r for r in history}
    compacted = sorted((r for r in last.values() if not r.deleted), key=lambda r: r.version)
    table = Table("orders", ("id",))
    rebuilt = Aggregator(table, [(compiled, [writer_for(sink, compiled)])])
    rebuilt.apply(compacted)
    asyncio.run(rebuilt.emit())
    assert sink_view(sink) == sink_view_of(first)  # nothing lost, nothing stale
    later = [o(1, 50, total="9.00"), o(5, 51, customer=2), o(3, 52, deleted=True)]
    rebuilt.apply(later)
    written = rebuilt.states[0].records(sorted(rebuilt.states[0].dirty))
    assert all(r.version >= held.get(r.key, 0) for r in written)
    asyncio.run(rebuilt.emit())
    expected = recompute(compiled, [row for _, row in table.rows()])
    assert {k: v for k, v in sink_view(sink).items() if v is not None} == expected
    assert sink_view(sink)[(1,)]["total_spent"] == Decimal("9.00")
    assert {k for k, v in sink_view(sink).items() if v is None} == {(3,)}


def sink_view_of(aggregator: Aggregator) -> dict[Any, Any]:
    state = aggregator.states[0]
    return {k: state.row(k) for k in state.groups}


def test_a_restart_keeps_versions_the_rows_do_not_hold(tmp_path: Path) -> None:
    """A row that moved out of a group leaves no trace of that change's version in the table:
    the checkpoint keeps the group's version, so a change of the group read late from another
    partition is still written at (not below) what the sinks hold."""
    compiled = aggregate()
    sink = Recording()
    table = Table("orders", ("id",), RocksStore(tmp_path / "orders", "fp"))
    aggregator = Aggregator(table, [(compiled, [writer_for(sink, compiled)])])
    aggregator.apply([o(1, 10), o(2, 20), o(2, 30, customer=2), o(2, 31, customer=2, qty=2)])
    asyncio.run(aggregator.emit())
    table.checkpoint(aggregator.extra())
    table.close()
    again = Table("orders", ("id",), RocksStore(tmp_path / "orders", "fp"))
    reloaded = Aggregator(again, [(compiled, [writer_for(sink, compiled)])])
    again.load()
    reloaded.load()
    reloaded.apply([o(3, 25, total="4.00")])  # group 1, from a partition read late
    asyncio.run(reloaded.emit())
    assert sink.rows[(1,)].version == 30
    assert sink.rows[(1,)].value["total_spent"] == Decimal("5.00")
    again.close()


def test_a_refused_group_row_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    compiled = aggregate()
    sink, metrics = Recording(refuse=2), Metrics()
    table = Table("orders", ("id",))
    aggregator = Aggregator(table, [(compiled, [writer_for(sink, compiled)])], metrics)
    aggregator.apply([o(1, 10), o(2, 11, customer=2)])
    asyncio.run(aggregator.emit())
    assert set(sink.rows) == {(1,)} and not aggregator.dirty
    assert "aggregate customer_order_stats: recording:stats refused 1 group row(s)" in caplog.text
    refused = metrics.aggregate_refused.labels("customer_order_stats", "recording:stats")
    assert refused._value.get() == 1
    assert metrics.aggregate_groups.labels("customer_order_stats")._value.get() == 2


def test_a_failing_sink_keeps_the_groups_dirty_and_unsaved() -> None:
    compiled = aggregate()
    table = Table("orders", ("id",))
    aggregator = Aggregator(table, [(compiled, [writer_for(Recording(fail=True), compiled)])])
    aggregator.apply([o(1, 10)])
    with pytest.raises(SinkError):
        asyncio.run(aggregator.emit())
    assert aggregator.dirty and aggregator.extra() == {}


def test_sum_of_float_and_int_types() -> None:
    compiled = aggregate({"s": agg.sum("qty"), "m": agg.min("region")}, group_by="region")
    assert compiled.output_columns["s"] == parse_type("int")
    assert compiled.output_columns["m"] == parse_type("string")
    assert STATS["total_spent"].describe() == "agg.sum('total')"


ORDERS_MODULE = """
from streamapp.topology import Sink, Source, Topology
topology = Topology(name="orders", source=Source(topic="shop.public.orders",
    columns={"id": "int", "customer_id": "int", "total": "decimal(12,2)"}), key="id")
"""
STATS_MODULE = """
from streamapp.topology import Aggregate, Sink, agg
topology = Aggregate(name="stats", table="orders", group_by="customer_id",
    columns={"n": agg.count(), "spent": agg.sum("%s")}, sinks=[Sink.postgres("stats")])
"""


def test_the_loader_compiles_aggregates_beside_topologies(tmp_path: Path) -> None:
    from streamapp.errors import TopologyError
    from streamapp.transform.loader import aggregates_of, load_topologies

    (tmp_path / "a_stats.py").write_text(STATS_MODULE % "total")
    (tmp_path / "orders.py").write_text(ORDERS_MODULE)
    loaded = load_topologies(tmp_path, secrets={}, schemas_dir=tmp_path)
    assert [t.name for t in loaded] == ["orders"]
    [stats] = aggregates_of(loaded)
    assert stats.render()[6:8] == [
        "    n                    int              agg.count()",
        "    spent                decimal(38,2)    agg.sum('total')",
    ]
    assert stats.summary().startswith("stats            aggregate of orders by customer_id")
    (tmp_path / "a_stats.py").write_text(STATS_MODULE % "totl")
    with pytest.raises(TopologyError) as err:
        load_topologies(tmp_path, secrets={}, schemas_dir=tmp_path)
    assert [line.split("a_stats.py: ")[1] for line in err.value.problems] == [
        "columns['spent']: agg.sum('totl'): 'totl' is not an output column of 'orders'; did "
        "you mean 'total'?"
    ]


CUSTOMERS_MODULE = """
from streamapp.topology import Source, Topology
topology = Topology(name="customers", source=Source(topic="shop.public.customers",
    columns={"id": "int", "region": "string"}), key="id")
"""
ENRICHED_MODULE = """
from streamapp.topology import Source, Topology, t
topology = Topology(name="orders", source=Source(topic="shop.public.orders",
    columns={"id": "int", "customer_id": "int", "total": "decimal(12,2)"}), key="id",
    transforms=[t.lookup("customers", on="customer_id", columns={"region": "region"},
                         as_of="%s")])
"""
BY_REGION_MODULE = """
from streamapp.topology import Aggregate, Sink, agg
topology = Aggregate(name="stats", table="orders", group_by="%s",
    columns={"n": agg.count(), "spent": agg.sum("total")}, sinks=[Sink.postgres("stats")])
"""


@pytest.mark.parametrize(
    ("as_of", "group_by", "refused"),
    [("current", "region", True), ("current", "customer_id", False), ("event", "region", False)],
)
def test_an_aggregate_may_not_read_columns_of_an_as_of_current_lookup(
    tmp_path: Path, as_of: str, group_by: str, refused: bool
) -> None:
    """The base table keeps what its reader computed when a fact arrived, not the values
    re-emitted later: grouping by (or aggregating) such a column would silently go stale."""
    from streamapp.errors import TopologyError
    from streamapp.transform.loader import aggregates_of, load_topologies

    (tmp_path / "customers.py").write_text(CUSTOMERS_MODULE)
    (tmp_path / "orders.py").write_text(ENRICHED_MODULE % as_of)
    (tmp_path / "stats.py").write_text(BY_REGION_MODULE % group_by)
    if not refused:
        [stats] = aggregates_of(load_topologies(tmp_path, secrets={}, schemas_dir=tmp_path))
        assert stats.key_columns == (group_by,)
        return
    with pytest.raises(TopologyError) as err:
        load_topologies(tmp_path, secrets={}, schemas_dir=tmp_path)
    [problem] = [p for p in err.value.problems if "stats.py" in p]
    assert problem.split("stats.py: ")[1] == (
        "'region' comes from an as_of='current' lookup of 'customers' in 'orders'; an "
        "aggregate cannot follow its later changes: aggregate the looked-up topology itself, "
        "or use as_of='event' in the lookup"
    )
