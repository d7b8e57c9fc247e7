"""The core against the real registry: decode via writer-schema lookup, encode + compatibility."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema

from streamapp.decode import Decoder
from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import avro_schema_for
from streamapp.errors import DecodeError, IncompatibleSchemaError
from streamapp.records import EventKind, Op, OutputRecord
from streamapp.registry import SchemaRegistry, subject_name
from streamapp.settings import Settings
from streamapp.synth import Table
from streamapp.types import parse_type
from streamapp.wire import frame

COLUMNS = {"id": "int", "total": "decimal(12,2)", "placed_at": "timestamptz", "note": "string"}


@pytest.fixture
def registry(stack: Settings) -> Any:
    reg = SchemaRegistry(stack.registry_url, settings=stack)
    yield reg
    reg.close()


def test_decoder_fetches_the_writer_schema_by_id(
    registry: Any, registry_client: Any, unique: str
) -> None:
    table = Table(unique, COLUMNS, ["id"], server="it")
    value_id = registry_client.register_schema(
        f"{table.topic}-value", Schema(json.dumps(table.value_schema), "AVRO")
    )
    try:
        placed = dt.datetime(2026, 11, 24, 9, 30, 1, 250000, tzinfo=dt.UTC)
        after = {"id": 7, "total": Decimal("-1234567890.55"), "placed_at": placed, "note": "hi"}
        buf = io.BytesIO()
        fastavro.schemaless_writer(
            buf, fastavro.parse_schema(table.value_schema), table.event("c", after=after, lsn=4242)
        )
        decoder = Decoder(resolver=registry, hints={k: parse_type(v) for k, v in COLUMNS.items()})
        event = decoder.decode(None, frame(value_id, buf.getvalue()), topic=table.topic)
        assert event.kind is EventKind.DATA and event.op is Op.CREATE
        assert event.after == after
        assert event.source is not None and event.source.lsn == 4242
        with pytest.raises(DecodeError, match="987654320"):
            decoder.decode(None, frame(987_654_320, buf.getvalue()), topic=table.topic)
    finally:
        registry_client.delete_subject(f"{table.topic}-value", permanent=False)
        registry_client.delete_subject(f"{table.topic}-value", permanent=True)


def test_register_checks_compatibility_and_names_the_field(
    registry: Any, registry_client: Any, unique: str
) -> None:
    """(registry_client deletes the subjects this test creates.)"""
    columns = {k: parse_type(v) for k, v in COLUMNS.items()}
    v1 = avro_schema_for(columns, name="orders", namespace="it", key_columns=["id"])
    subject = subject_name(f"{unique}.orders")
    first = registry.register(subject, v1)
    assert registry.register(subject, v1) == first  # same schema, same id

    # Adding a nullable column (default null) is BACKWARD compatible: registered.
    v2 = avro_schema_for(
        {**columns, "channel": parse_type("string")},
        name="orders",
        namespace="it",
        key_columns=["id"],
    )
    second = registry.register(subject, v2)
    assert second != first

    # Changing a decimal to a string is not: refused before the registry is asked.
    v3 = copy.deepcopy(v2)
    for f in v3["fields"]:
        if f["name"] == "total":
            f["type"] = ["null", "string"]
    with pytest.raises(IncompatibleSchemaError, match=r"total.*BACKWARD"):
        registry.register(subject, v3)

    encoder = RecordEncoder(v2, None, value_schema_id=second, key_schema_id=None)
    record = OutputRecord(
        "orders",
        (1,),
        {"id": 1, "total": Decimal("9.99"), "placed_at": None, "note": None, "channel": "web"},
        1,
        Op.CREATE,
        False,
        frozenset(),
        None,
    )
    data = encoder.encode_value(record)
    assert data is not None and data[1:5] == second.to_bytes(4, "big")
    assert encoder.decode_value(data)["total"] == Decimal("9.99")
