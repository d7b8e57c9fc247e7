"""Reconcile learns propagated columns from the output schema the worker registered."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streamapp.ops import OpsError
from streamapp.reconcile.expected import Counts, expected_rows, snapshot_source
from streamapp.reconcile.freshness import SourcePosition
from streamapp.reconcile.layout import Layout
from streamapp.reconcile.propagated import columns_of, propagated, with_columns
from streamapp.reconcile.report import render
from streamapp.reconcile.run import Result
from streamapp.reconcile.source import SourceTable
from streamapp.runtime.evolve import extended_schema
from streamapp.settings import Settings
from streamapp.topology import Output, Sink, Source, Topology, t
from streamapp.transform.compile import CompiledTopology, compile_topology
from streamapp.types import parse_type

SECRETS = {"default": b"k" * 32}
ADDED = {
    "coupon": parse_type("string"),
    "discount": parse_type("decimal(8,2)"),
    "placed_on": parse_type("date"),
    "tags": parse_type("json"),
}


def orders(new_columns: Any = "propagate") -> CompiledTopology:
    return compile_topology(
        Topology(
            name="orders",
            source=Source(
                topic="shop.public.orders",
                columns={"id": "int", "email": "string", "total": "decimal(12,2)"},
                new_columns=new_columns,
            ),
            key=["id"],
            transforms=[t.mask("email", t.hmac_sha256()), t.metadata("__op", "__lsn")],
            output=Output(topic="warehouse.orders"),
            sinks=[Sink.postgres("orders")],
        ),
        secrets=SECRETS,
        schemas_dir=Path("."),
    )


def settings() -> Settings:
    return replace(Settings(), registry_url="http://127.0.0.1:9/nothing-answers-here")


def test_the_columns_the_evolver_registered_are_read_back_with_their_types() -> None:
    topology = orders()
    registered = extended_schema(topology.output_avro_schema, ADDED)
    assert columns_of(topology, registered) == ADDED
    # the module's own columns and the bookkeeping fields are never "propagated"
    assert columns_of(topology, topology.output_avro_schema) == {}


def test_a_field_streamapp_does_not_write_is_refused_with_the_subject_named() -> None:
    topology = orders()
    schema = dict(topology.output_avro_schema)
    schema["fields"] = [*schema["fields"], {"name": "odd", "type": ["null", "fixed"]}]
    with pytest.raises(OpsError, match=r"warehouse\.orders-value"):
        columns_of(topology, schema)


def test_a_topology_that_does_not_propagate_never_asks_the_registry() -> None:
    assert propagated(settings(), orders(new_columns="ignore")) == {}


def test_the_recompiled_topology_expects_and_compares_the_propagated_columns() -> None:
    base = orders()
    topology = with_columns(settings(), base, ADDED)
    layout = Layout.of(topology)
    assert layout.names == ("email", "total", *ADDED)
    assert with_columns(settings(), base, {}) is base
    row = {
        "id": 1,
        "email": "a@x.io",
        "total": Decimal("9.50"),
        "coupon": "SPRING-10",
        "discount": Decimal("1.5"),
        "placed_on": None,
        "tags": {"b": 1, "a": [2]},
    }
    (item,) = expected_rows(
        topology,
        layout,
        [row],
        source=snapshot_source(None, "public", "orders"),
        key_columns=("id",),
        redis=(),
        counts=Counts(),
    )
    assert item.canon[2:] == ("SPRING-10", "1.50", None, '{"a":[2],"b":1}')


def test_a_propagated_column_that_collides_with_the_module_is_an_ops_error() -> None:
    with pytest.raises(OpsError, match="cannot be added"):
        with_columns(settings(), orders(), {"__op": parse_type("string")})


def test_the_report_names_compared_and_gone_propagated_columns() -> None:
    result = Result(
        "orders",
        SourceTable("public", "orders"),
        SourcePosition(None, None, None),
        Counts(),
        (),
        False,
        [],
        ("coupon",),
        ("channel",),
    )
    text = "\n".join(render(result, ("id",), 0.0, False))
    assert "propagated by the worker (from the registered output schema), compared too: coupon" in (
        text
    )
    assert "no longer in the source table, not compared: channel" in text
