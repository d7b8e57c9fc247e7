"""A propagated column through the recompiled topology: carried, or left as stored (history)."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro

from streamapp.encode.avro import RecordEncoder
from streamapp.records import UNCHANGED, ChangeEvent, EventKind, Op
from streamapp.runtime.evolve import recompile
from streamapp.topology import Output, Sink, Source, Topology, t
from streamapp.transform.compile import compile_topology
from streamapp.types import parse_type
from streamapp.wire import HEADER_SIZE

SECRETS = {"default": b"k" * 32}


def _event(after: dict[str, object]) -> ChangeEvent:
    return ChangeEvent(EventKind.DATA, Op.UPDATE, {"id": 1}, None, after, None, 0, None, 5)


def test_an_older_schema_event_leaves_the_propagated_column_as_stored() -> None:
    base = compile_topology(
        Topology(
            name="orders",
            source=Source(
                topic="shop.public.orders",
                columns={"id": "int", "status": "string"},
                new_columns="propagate",
            ),
            key=["id"],
            transforms=[t.metadata("__op")],
            output=Output(topic="warehouse.orders"),
            sinks=[Sink.postgres("orders")],
        ),
        secrets=SECRETS,
        schemas_dir=Path("."),
    )
    topology, outputs = recompile(
        base, {"coupon": parse_type("string")}, secrets=SECRETS, schemas_dir=Path(".")
    )
    assert outputs == {"coupon": parse_type("string")}
    (carried,) = topology.process(_event({"id": 1, "status": "paid", "coupon": "X"}))
    assert carried.value["coupon"] == "X" and carried.unchanged == frozenset()
    # what the Decoder makes of an event of the older writer schema (Verdict.unchanged)
    (history,) = topology.process(_event({"id": 1, "status": "shipped", "coupon": UNCHANGED}))
    assert history.unchanged == frozenset({"coupon"}) and history.value["status"] == "shipped"
    encoder = RecordEncoder(
        topology.output_avro_schema, None, value_schema_id=1, key_schema_id=None
    )
    encoded = encoder.encode_value(history)
    assert encoded is not None
    schema = fastavro.parse_schema(topology.output_avro_schema)
    value = fastavro.schemaless_reader(io.BytesIO(encoded[HEADER_SIZE:]), schema, None)
    assert value["coupon"] is None and value["__unchanged"] == ["coupon"]
