"""reconcile with lookups: tables built from the looked-up topologies' rows, bound like a worker
binds them; as_of='event' columns left out of the comparison; the report's notes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from streamapp.reconcile import tables as tables_mod
from streamapp.reconcile.expected import Counts, read_event, snapshot_source
from streamapp.reconcile.freshness import SourcePosition
from streamapp.reconcile.layout import Layout
from streamapp.reconcile.merge import Tally
from streamapp.reconcile.report import render
from streamapp.reconcile.run import Result
from streamapp.reconcile.source import SourceTable
from streamapp.reconcile.tables import LookupTables, bind, event_columns, lookup_tables, table_of
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.loader import load_topologies

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
SECRETS = {"default": b"k" * 32}

CUSTOMERS = """
from streamapp.topology import Sink, Source, Topology, t
topology = Topology(
    name="customers",
    source=Source(topic="shop.public.customers",
                  columns={"id": "int", "full_name": "string", "email": "string",
                           "region_id": "int"}),
    key="id",
    transforms=[
        t.filter(lambda ev: (ev.after or {}).get("full_name") != "test"),
        t.rename(full_name="name"),
        t.mask("email", t.hmac_sha256()),
        t.lookup("regions", on="region_id", columns={"label": "region"}, as_of="current"),
    ],
    sinks=[Sink.postgres("customers")],
)
"""
REGIONS = """
from streamapp.topology import Sink, Source, Topology
topology = Topology(
    name="regions",
    source=Source(topic="shop.public.regions", columns={"id": "int", "label": "string"}),
    key="id",
    sinks=[Sink.postgres("regions")],
)
"""
ORDERS = """
from streamapp.topology import Sink, Source, Topology, t
topology = Topology(
    name="orders",
    source=Source(topic="shop.public.orders",
                  columns={"id": "int", "customer_id": "int", "total": "int"}),
    key="id",
    transforms=[
        t.lookup("customers", on="customer_id",
                 columns={"name": "customer_name", "email": "customer_email",
                          "region": "customer_region"},
                 as_of="current"),
        t.lookup("regions", on="customer_id", columns={"label": "then_label"}, as_of="event",
                 missing="dlq"),
        t.metadata("__op"),
    ],
    sinks=[Sink.postgres("orders")],
)
"""
CUSTOMER_ROWS = [
    {"id": 1, "full_name": "Ada", "email": "ada@example.com", "region_id": 10},
    {"id": 2, "full_name": "test", "email": None, "region_id": 10},  # filtered out
    {"id": 3, "full_name": "Grace", "email": None, "region_id": 99},  # region missing
]
REGION_ROWS = [{"id": 10, "label": "north"}, {"id": 1, "label": "one"}]
ORDER_ROWS = [
    {"id": 100, "customer_id": 1, "total": 5},
    {"id": 101, "customer_id": 2, "total": 6},  # its customer is filtered out: nulls
    {"id": 102, "customer_id": None, "total": 7},  # no reference: nulls
    {"id": 103, "customer_id": 3, "total": 8},
]
SOURCE = {"customers": CUSTOMER_ROWS, "regions": REGION_ROWS, "orders": ORDER_ROWS}


@pytest.fixture
def loaded(tmp_path: Path) -> dict[str, CompiledTopology]:
    for name, text in (("customers", CUSTOMERS), ("regions", REGIONS), ("orders", ORDERS)):
        (tmp_path / f"{name}.py").write_text(text)
    return {t.name: t for t in load_topologies(tmp_path, secrets=SECRETS, schemas_dir=SCHEMAS)}


@pytest.fixture
def fake_source(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``_read`` from SOURCE instead of a database; records the tables read, in order."""
    read: list[str] = []

    def _read(settings: Settings, topology: CompiledTopology, chunk_rows: int) -> Any:
        read.append(topology.name)
        return table_of(topology, SOURCE[topology.name])

    monkeypatch.setattr(tables_mod, "_read", _read)
    return read


def outputs(topology: CompiledTopology, rows: Iterable[Mapping[str, Any]]) -> dict[int, Any]:
    source = snapshot_source(None, "public", topology.name)
    out = {}
    for row in rows:
        for record in topology.process(read_event(source, {"id": row["id"]}, dict(row))):
            out[record.key[0]] = {k: v for k, v in record.value.items() if k != "__op"}
    return out


def test_table_of_holds_the_topologys_output_rows_and_counts(
    loaded: dict[str, CompiledTopology],
) -> None:
    counts = Counts()
    table = table_of(loaded["regions"], REGION_ROWS, counts)
    assert dict(table.rows()) == {
        (10,): {"id": 10, "label": "north"},
        (1,): {"id": 1, "label": "one"},
    }
    assert (counts.source_rows, counts.filtered, counts.failed) == (2, 0, 0)


def test_current_lookup_joins_the_current_tables_chained_and_masked(
    loaded: dict[str, CompiledTopology], fake_source: list[str]
) -> None:
    orders = loaded["orders"]
    bound = lookup_tables(Settings.from_env(), orders, list(loaded.values()))
    # the dimension's own lookup is built first; each table once
    assert fake_source == ["regions", "customers"]
    rows = outputs(orders, ORDER_ROWS)
    ada = rows[100]
    assert (ada["customer_name"], ada["customer_region"]) == ("Ada", "north")
    # masked in the dimension's table as in its sinks, never the clear value
    assert ada["customer_email"] not in (None, "ada@example.com")
    assert len(ada["customer_email"]) == 64
    for key in (101, 102):
        assert (rows[key]["customer_name"], rows[key]["customer_email"]) == (None, None)
    assert rows[103]["customer_name"] == "Grace" and rows[103]["customer_region"] is None
    # as_of='event' never misses (missing='dlq' would fail every fact whose row is gone now)
    assert rows[103]["then_label"] is None
    assert bound.unverified == ("then_label",)
    assert bound.notes[:2] == (
        "lookup table customers: 2 row(s), from customers's source table through its "
        "topology (as_of='current')",
        "lookup table regions: 2 row(s), from regions's source table through its "
        "topology (as_of='event')",
    )
    assert "not compared: then_label" in bound.notes[-1]


def test_event_columns_and_the_compared_layout(loaded: dict[str, CompiledTopology]) -> None:
    orders = loaded["orders"]
    assert event_columns(orders) == ("then_label",)
    assert event_columns(loaded["customers"]) == ()
    layout = Layout.of(orders)
    assert "then_label" in layout.names
    compared = LookupTables({}, ("then_label",)).compared(layout)
    assert compared.names == tuple(n for n in layout.names if n != "then_label")
    assert len(compared.types) == len(compared.names)
    assert compared.key_names == layout.key_names


def test_bind_uses_the_tables_getter_for_current_lookups(
    loaded: dict[str, CompiledTopology],
) -> None:
    regions = table_of(loaded["regions"], REGION_ROWS)
    customers = loaded["customers"]
    bind(customers, {"regions": regions})
    assert customers.table_refs["regions"].get == regions.get
    (out,) = customers.process(
        read_event(snapshot_source(None, "public", "c"), {"id": 1}, dict(CUSTOMER_ROWS[0]))
    )
    assert out.value["region"] == "north"


def test_a_topology_without_lookups_reads_no_table(loaded: dict[str, CompiledTopology]) -> None:
    assert lookup_tables(Settings.from_env(), loaded["regions"], []) is tables_mod.NONE


def test_report_prints_the_notes() -> None:
    tally = Tally("postgres:public.x", ("a",))
    result = Result(
        "x",
        SourceTable("public", "x"),
        SourcePosition(wal_lsn=100),
        Counts(),
        (),
        False,
        [tally],
        notes=("lookup table customers: 2 row(s)", "not compared: b"),
    )
    lines = render(result, ("id",), 0.0, False)
    assert lines[2:4] == ["  note: lookup table customers: 2 row(s)", "  note: not compared: b"]
