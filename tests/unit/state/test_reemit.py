"""as_of="current": compile checks, the version rule (clock), row patching, delete and missing
semantics, and the Reemitter's barrier, chunks and re-check of facts that changed meanwhile."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from streamapp.records import UNCHANGED, ChangeEvent, EventKind, Op, OutputRecord
from streamapp.state import Table, open_store
from streamapp.state.reemit import Joiner, Reemitter, current_joins
from streamapp.state.registry import materialised
from streamapp.topology import Source, Topology, t
from streamapp.transform.compile import CompiledTopology, compile_with_problems
from streamapp.transform.lookup import CurrentJoin, TableShape
from streamapp.types import parse_type

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transform"))
from transform_fixtures import SCHEMAS, SECRETS

CUSTOMERS = TableShape(
    ("id",), {"id": parse_type("int"), "name": parse_type("string"), "tier": parse_type("int")}
)
CURRENT = t.lookup("customers", on="customer_id", columns={"name": "cust"}, as_of="current")


def orders(*transforms: Any) -> Topology:
    cols = {"id": "int", "customer_id": "int", "total": "int"}
    return Topology("orders", Source("shop.public.orders", cols), key="id", transforms=transforms)


def compile_(topology: Topology) -> tuple[CompiledTopology | None, list[str]]:
    return compile_with_problems(
        topology, secrets=SECRETS, schemas_dir=SCHEMAS, tables={"customers": CUSTOMERS}
    )


def out(table: str, key: int, version: int, deleted: bool = False, **value: Any) -> OutputRecord:
    unchanged = frozenset(k for k, v in value.items() if v is UNCHANGED)
    op = Op.DELETE if deleted else Op.UPDATE
    return OutputRecord(table, (key,), {"id": key, **value}, version, op, deleted, unchanged, None)


def fact(key: int, customer: int | None, version: int, **value: Any) -> OutputRecord:
    return out("orders", key, version, customer_id=customer, total=key, cust="stale", **value)


class FakeReader:
    def __init__(self) -> None:
        self.calls = 0

    async def catch_up(self, deadline: float) -> bool:
        self.calls += 1
        return True


class FakeTables:
    """The part of ``state.registry.Tables`` the joiner and the reemitter use."""

    def __init__(self, **tables: Table) -> None:
        self.tables = tables
        self.readers = {name: FakeReader() for name in tables}

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)


class FakeFacts:
    """Records what ``Pipeline.reemit`` would store; ``during`` runs inside the first call."""

    def __init__(self, during: Any = None) -> None:
        self.calls: list[list[OutputRecord]] = []
        self.origins: list[list[int]] = []
        self.during = during

    async def reemit(
        self, causes: Sequence[Any], outputs: Sequence[OutputRecord], origins: Sequence[int]
    ) -> None:
        self.calls.append(list(outputs))
        self.origins.append(list(origins))
        if self.during is not None:
            self.during()
            self.during = None


def setup(*facts: OutputRecord) -> tuple[CompiledTopology, Table, Table, FakeTables]:
    compiled, problems = compile_(orders(CURRENT))
    assert compiled is not None, problems
    customers, table = Table("customers", ("id",)), Table("orders", ("id",))
    customers.apply([out("customers", 1, 10, name="Ann"), out("customers", 2, 11, name="Bo")])
    table.index("customer_id")
    table.apply(facts)
    return compiled, customers, table, FakeTables(customers=customers, orders=table)


def joiner_for(compiled: CompiledTopology, tables: FakeTables) -> Joiner:
    return Joiner(compiled, tables)  # type: ignore[arg-type]


# -- compile -----------------------------------------------------------------------------------
def test_current_lookup_compiles_and_records_where_it_shows_in_the_output() -> None:
    compiled, problems = compile_(orders(CURRENT, t.rename(customer_id="cid", cust="who")))
    assert compiled is not None, problems
    assert current_joins(compiled) == [CurrentJoin("customers", ("cid",), (("name", "who"),))]
    assert [c.name for c in materialised([compiled])] == ["orders"]  # the facts' table


def test_event_lookup_records_no_join_and_is_not_materialised() -> None:
    step = t.lookup("customers", on="customer_id", columns={"name": "cust"})
    compiled, _ = compile_(orders(step))
    assert compiled is not None
    assert current_joins(compiled) == []
    assert materialised([compiled]) == []


@pytest.mark.parametrize(
    ("steps", "line"),
    [
        (
            [t.lookup("customers", on="customer_id", as_of="current", missing="wait")],
            "missing='wait' does not apply to as_of='current'",
        ),
        ([CURRENT, t.mask("cust")], "a later transform may not change or read"),
        ([CURRENT, t.cast(cust="int")], "a later transform may not change or read"),
        ([CURRENT, t.drop("customer_id")], "on column(s) ['customer_id'] must reach the output"),
        ([CURRENT, t.cast(customer_id="string")], "must reach the output"),
    ],
)
def test_current_lookup_problems(steps: list[Any], line: str) -> None:
    compiled, problems = compile_(orders(*steps))
    assert compiled is None
    assert any(line in p for p in problems), problems


def test_a_dropped_looked_up_column_is_simply_not_patched() -> None:
    compiled, problems = compile_(orders(CURRENT, t.drop("cust")))
    assert compiled is not None, problems
    assert current_joins(compiled) == [CurrentJoin("customers", ("customer_id",), ())]


# -- the version rule --------------------------------------------------------------------------
def test_table_clock_is_the_largest_applied_version() -> None:
    table = Table("customers", ("id",))
    assert table.clock == 0
    table.apply([out("customers", 1, 30, name="a"), out("customers", 2, 20, name="b")])
    table.apply([out("customers", 1, 5, name="older, ignored")])
    assert table.clock == 30
    table.apply([out("customers", 2, 40, deleted=True)])  # deletes count
    assert table.clock == 40


def test_table_clock_is_restored_from_the_store(tmp_path: Path) -> None:
    table = Table("customers", ("id",), open_store(tmp_path, "customers", "f"))
    table.apply([out("customers", 1, 30, name="a"), out("customers", 2, 50, deleted=True)])
    table.checkpoint()
    table.close()
    again = Table("customers", ("id",), open_store(tmp_path, "customers", "f"))
    again.load()
    assert again.clock == 50


def test_fact_lane_version_is_max_of_own_and_clock() -> None:
    compiled, _, _, tables = setup()
    joiner = joiner_for(compiled, tables)
    stamped = joiner.stamp([fact(1, 1, 5), fact(2, 1, 99)])
    assert [o.version for o in stamped] == [11, 99]  # clock 11 (Bo's version)


def test_moved_fact_wins_over_the_old_dimension_row_processed_late() -> None:
    """A replay: the old event (-> A) meets A's newest change (version 100); the move to B
    (version 20, B at 6) must still win. With max(fact, row version) it got 20 < 100."""
    compiled, problems = compile_(orders(CURRENT))
    assert compiled is not None, problems
    customers = Table("customers", ("id",))
    customers.apply([out("customers", 1, 100, name="A"), out("customers", 2, 6, name="B")])
    compiled.table_refs["customers"].get = customers.get
    joiner = joiner_for(compiled, FakeTables(customers=customers, orders=Table("o", ("id",))))

    def event(customer: int, version: int) -> ChangeEvent:
        after = {"id": 1, "customer_id": customer, "total": 1}
        return ChangeEvent(EventKind.DATA, Op.UPDATE, None, None, after, None, None, None, version)

    old = joiner.stamp(compiled.process(event(1, 10)))[0]
    moved = joiner.stamp(compiled.process(event(2, 20)))[0]
    assert old.value["cust"] == "A" and moved.value["cust"] == "B"
    assert moved.version >= old.version  # the sinks keep the move


# -- patching, deletes, missing ----------------------------------------------------------------
def test_current_row_is_patched_with_the_dimension_values() -> None:
    compiled, customers, _, tables = setup(fact(1, 1, 5), fact(2, None, 6), fact(3, 9, 7))
    joiner = joiner_for(compiled, tables)
    rows = {k: joiner.current((k,), joiner.clock()) for k in (1, 2, 3)}
    assert rows[1] is not None and rows[1].value["cust"] == "Ann"
    assert rows[1].version == 11 and not rows[1].deleted
    assert rows[2] is not None and rows[2].value["cust"] is None  # a null reference
    assert rows[3] is not None and rows[3].value["cust"] is None  # missing="null"
    customers.apply([out("customers", 1, 12, deleted=True)])  # a deleted dimension row: nulls
    gone = joiner.current((1,), joiner.clock())
    assert gone is not None and gone.value["cust"] is None and gone.version == 12


def test_unknown_dimension_value_stays_unchanged() -> None:
    compiled, customers, _, tables = setup(fact(1, 3, 5))
    customers.apply([out("customers", 3, 13, name=UNCHANGED)])  # never known
    row = joiner_for(compiled, tables).current((1,), 13)
    assert row is not None and row.value["cust"] is UNCHANGED and "cust" in row.unchanged


def test_deleted_fact_gives_its_delete_and_unknown_key_none() -> None:
    compiled, _, table, tables = setup(fact(1, 1, 5))
    table.apply([fact(1, 1, 8, deleted=True)])
    joiner = joiner_for(compiled, tables)
    row = joiner.current((1,), joiner.clock())
    assert row is not None and row.deleted and row.version == 11
    assert joiner.current((42,), 0) is None
    assert list(joiner.referencing("customers", (1,))) == []  # only live facts


# -- the reemitter -----------------------------------------------------------------------------
def dim_change(customers: Table, key: int, version: int, **value: Any) -> OutputRecord:
    change = out("customers", key, version, **value)
    customers.apply([change])
    return change


def test_dimension_change_reemits_every_referencing_fact_in_chunks() -> None:
    compiled, customers, _, tables = setup(*(fact(k, 1 + k % 2, k) for k in range(1, 8)))
    joiner = joiner_for(compiled, tables)
    facts = FakeFacts()
    reemitter = Reemitter(facts, joiner, tables, "customers")  # type: ignore[arg-type]
    reemitter.chunk = 2
    change = dim_change(customers, 2, 50, name="Ann2")  # facts 1, 3, 5, 7
    asyncio.run(reemitter(["rec"], [change], [0]))
    assert [len(c) for c in facts.calls] == [2, 2]
    stored = [o for call in facts.calls for o in call]
    assert sorted(o.key[0] for o in stored) == [1, 3, 5, 7]
    assert {o.value["cust"] for o in stored} == {"Ann2"}
    assert {o.version for o in stored} == {50}
    assert facts.origins == [[0, 0], [0, 0]]
    assert tables.readers["customers"].calls >= 1 and tables.readers["orders"].calls >= 1


def test_dimension_delete_reemits_facts_with_nulls() -> None:
    compiled, customers, _, tables = setup(fact(1, 1, 5))
    facts = FakeFacts()
    reemitter = Reemitter(facts, joiner_for(compiled, tables), tables, "customers")  # type: ignore[arg-type]
    change = out("customers", 1, 60, deleted=True)
    customers.apply([change])
    asyncio.run(reemitter(["rec"], [change], [0]))
    assert [(o.key, o.value["cust"], o.version) for o in facts.calls[0]] == [((1,), None, 60)]


def test_fact_changed_while_reemitted_is_reemitted_again() -> None:
    """The race: the fact moves to another customer while the stale row is being written."""
    compiled, customers, table, tables = setup(fact(1, 1, 5), fact(2, 1, 6))
    facts = FakeFacts(during=lambda: table.apply([fact(1, 2, 70)]))
    reemitter = Reemitter(facts, joiner_for(compiled, tables), tables, "customers")  # type: ignore[arg-type]
    change = dim_change(customers, 1, 65, name="Ann2")
    asyncio.run(reemitter(["rec"], [change], [0]))
    assert len(facts.calls) == 2
    again = facts.calls[1]
    assert [(o.key, o.value["customer_id"], o.value["cust"]) for o in again] == [((1,), 2, "Bo")]
    assert again[0].version == 70


def test_no_referencing_fact_stores_nothing() -> None:
    compiled, customers, _, tables = setup(fact(1, 1, 5))
    facts = FakeFacts()
    reemitter = Reemitter(facts, joiner_for(compiled, tables), tables, "customers")  # type: ignore[arg-type]
    asyncio.run(reemitter(["rec"], [dim_change(customers, 2, 70, name="x")], [0]))
    assert facts.calls == []
