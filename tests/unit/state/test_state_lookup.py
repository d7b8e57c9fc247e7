"""t.lookup: compile-time checks, generated code against a Table, missing policies, loader order."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from streamapp.errors import TopologyError, TransformError
from streamapp.records import UNCHANGED, ChangeEvent, EventKind, Op, OutputRecord
from streamapp.state import Table
from streamapp.topology import Source, Topology, t
from streamapp.transform.compile import CompiledTopology, compile_with_problems
from streamapp.transform.loader import load_topologies
from streamapp.transform.lookup import LookupMissing, TableShape
from streamapp.types import parse_type

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transform"))
from transform_fixtures import SCHEMAS, SECRETS

CUSTOMERS = TableShape(
    ("id",), {"id": parse_type("int"), "name": parse_type("string"), "tier": parse_type("int")}
)


def orders(*transforms: Any, **columns: str) -> Topology:
    cols = {"id": "int", "customer_id": "int", **columns}
    return Topology("orders", Source("shop.public.orders", cols), key="id", transforms=transforms)


def compile_(topology: Topology) -> tuple[CompiledTopology | None, list[str]]:
    return compile_with_problems(
        topology, secrets=SECRETS, schemas_dir=SCHEMAS, tables={"customers": CUSTOMERS}
    )


def bound(topology: Topology, table: Table) -> CompiledTopology:
    compiled, problems = compile_(topology)
    assert compiled is not None, problems
    compiled.table_refs["customers"].get = table.get
    return compiled


def ev(after: dict[str, Any], version: int = 5) -> ChangeEvent:
    return ChangeEvent(EventKind.DATA, Op.CREATE, None, None, after, None, None, None, version)


def dim(key: int, version: int = 1, **value: Any) -> OutputRecord:
    unchanged = frozenset(k for k, v in value.items() if v is UNCHANGED)
    row = {"id": key, **value}
    return OutputRecord("customers", (key,), row, version, Op.CREATE, False, unchanged, None)


def customers_table() -> Table:
    table = Table("customers", ("id",))
    table.apply([dim(7, name="Ann", tier=2), dim(8, name="Bo", tier=UNCHANGED)])
    return table


def test_lookup_adds_typed_columns_and_values() -> None:
    top = bound(
        orders(t.lookup("customers", on="customer_id", columns={"name": "cust"})), customers_table()
    )
    assert top.output_columns["cust"] == parse_type("string")
    out = top.process(ev({"id": 1, "customer_id": 7}))[0]
    assert out.value == {"id": 1, "customer_id": 7, "cust": "Ann"}
    assert out.unchanged == frozenset()


@pytest.mark.parametrize(
    ("customer", "expected", "unchanged"),
    [
        (7, {"name": "Ann", "tier": 2}, set()),
        (None, {"name": None, "tier": None}, set()),  # a null reference: no lookup
        (9, {"name": None, "tier": None}, set()),  # missing="null"
        (8, {"name": "Bo", "tier": UNCHANGED}, {"tier"}),  # not known yet: sinks keep theirs
        (UNCHANGED, {"name": UNCHANGED, "tier": UNCHANGED}, {"customer_id", "name", "tier"}),
    ],
)
def test_lookup_values(customer: Any, expected: dict[str, Any], unchanged: set[str]) -> None:
    top = bound(orders(t.lookup("customers", on="customer_id")), customers_table())
    assert list(top.output_columns) == ["id", "customer_id", "name", "tier"]
    out = top.process(ev({"id": 1, "customer_id": customer}))[0]
    assert {k: out.value[k] for k in expected} == expected
    assert out.unchanged == unchanged


def test_lookup_column_list_and_later_transforms() -> None:
    top = bound(
        orders(t.lookup("customers", on=["customer_id"], columns=["name"]), t.rename(name="n")),
        customers_table(),
    )
    assert top.process(ev({"id": 1, "customer_id": 7}))[0].value["n"] == "Ann"


def test_missing_dlq_names_table_not_values() -> None:
    top = bound(orders(t.lookup("customers", on="customer_id", missing="dlq")), customers_table())
    with pytest.raises(TransformError) as err:
        top.process(ev({"id": 1, "customer_id": 123456}))
    assert not isinstance(err.value, LookupMissing)
    assert "'customers'" in str(err.value) and "customer_id" in str(err.value)
    assert "123456" not in str(err.value)


def test_missing_wait_raises_lookup_missing_with_key() -> None:
    top = bound(
        orders(t.lookup("customers", on="customer_id", missing="wait", wait_seconds=2)),
        customers_table(),
    )
    assert top.wait_seconds == 2
    with pytest.raises(LookupMissing) as err:
        top.process(ev({"id": 1, "customer_id": 9}))
    assert (err.value.table, err.value.key) == ("customers", (9,))


def test_unbound_table_is_a_transform_error() -> None:
    compiled, _ = compile_(orders(t.lookup("customers", on="customer_id")))
    assert compiled is not None
    with pytest.raises(TransformError, match="not materialised"):
        compiled.process(ev({"id": 1, "customer_id": 7}))


@pytest.mark.parametrize(
    ("step", "line"),
    [
        (
            t.lookup("nope", on="customer_id"),
            "lookup('nope'): no topology named 'nope' to look up (topologies: customers)",
        ),
        (t.lookup("customers", on="cust"), "lookup('customers'): unknown field 'cust'"),
        (
            t.lookup("customers", on=["customer_id", "id"]),
            "on=['customer_id', 'id'] names 2 column(s) but 'customers' is keyed by ['id']",
        ),
        (
            t.lookup("customers", on="code"),
            "on column 'code' is string but 'customers''s key column 'id' is int",
        ),
        (
            t.lookup("customers", on="customer_id", columns=["email"]),
            "'customers' has no column 'email'",
        ),
        (
            t.lookup("customers", on="customer_id", columns={"name": "id"}),
            "duplicate output column 'id'",
        ),
        (
            t.lookup("customers", on="customer_id", as_of="current", missing="dlq"),
            "missing='dlq' does not apply to as_of='current'",
        ),
        (t.lookup("customers", on="customer_id", as_of="x"), "as_of='x': use 'event' or 'current'"),  # type: ignore[arg-type]
        (t.lookup("customers", on="customer_id", missing="x"), "missing='x'"),  # type: ignore[arg-type]
        (t.lookup("customers", on="customer_id", wait_seconds=0), "wait_seconds must be"),
    ],
)
def test_problems(step: Any, line: str) -> None:
    compiled, problems = compile_(orders(step, code="string"))
    assert compiled is None
    assert any(line in p for p in problems), problems


def test_describe() -> None:
    step = t.lookup("customers", on="customer_id", columns={"name": "n"}, missing="dlq")
    assert (
        step.describe()
        == "lookup('customers', on='customer_id', columns={'name': 'n'}, missing='dlq')"
    )


MODULE = """
from streamapp.topology import Source, Topology, t
topology = Topology({name!r}, Source({topic!r}, {{"id": "int", "ref": "int", "name": "string"}}),
    key="id", transforms=[{steps}])
"""


def write(tmp: Path, file: str, name: str, steps: str = "") -> None:
    (tmp / file).write_text(MODULE.format(name=name, topic=f"shop.public.{name}", steps=steps))


def test_loader_compiles_tables_first_and_keeps_file_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a_orders.py",
        "orders",
        't.lookup("zcustomers", on="ref", columns={"name": "cname"})',
    )
    write(tmp_path, "b_customers.py", "zcustomers")
    loaded = load_topologies(tmp_path, secrets=SECRETS, schemas_dir=SCHEMAS)
    assert [c.name for c in loaded] == ["orders", "zcustomers"]
    assert "cname" in loaded[0].output_columns
    assert set(loaded[0].table_refs) == {"zcustomers"}


def test_loader_reports_cycles_and_broken_tables(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "a", 't.lookup("b", on="ref", columns={"name": "bname"})')
    write(tmp_path, "b.py", "b", 't.lookup("a", on="ref", columns={"name": "aname"})')
    write(tmp_path, "c.py", "c", 't.lookup("d", on="ref", columns={"name": "dname"})')
    write(tmp_path, "d.py", "d", 't.cast(nope="int")')
    with pytest.raises(TopologyError) as err:
        load_topologies(tmp_path, secrets=SECRETS, schemas_dir=SCHEMAS)
    text = "\n".join(err.value.problems)
    assert "a.py: its lookups form a cycle" in text and "b.py: its lookups form a cycle" in text
    assert "c.py: looks up 'd', which cannot be compiled" in text
