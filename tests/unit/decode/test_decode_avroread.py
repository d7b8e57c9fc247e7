"""The generated Avro reader: identical to fastavro on every Avro type, TOAST rows, errors."""

from __future__ import annotations

import io
import math
import struct
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from decode_helpers import avro_body, field, opt
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode.avro import compile_plan
from streamapp.decode.avroread import _varint, compile_reader
from streamapp.decode.schema import from_avro
from streamapp.errors import DecodeError
from streamapp.records import UNCHANGED
from streamapp.wire import frame

INNER: dict[str, Any] = {
    "type": "record",
    "name": "Inner",
    "fields": [field("x", "long"), field("y", opt("string"))],
}
RICH: dict[str, Any] = {
    "type": "record",
    "name": "Rich",
    "namespace": "t",
    "fields": [
        field("b", "boolean"),
        field("i", "int"),
        field("l", "long"),
        field("f", "float"),
        field("d", "double"),
        field("s", "string"),
        field("by", "bytes"),
        field("e", {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}),
        field("fx", {"type": "fixed", "name": "F4", "size": 4}),
        field("oi", opt("long")),
        {"name": "os", "type": ["string", "null"]},
        {"name": "u", "type": ["null", "long", "string", {"type": "array", "items": "int"}]},
        field("arr", {"type": "array", "items": INNER}),
        field("m", {"type": "map", "values": opt("double")}),
        field("nested", "t.Inner"),
        field("arr2", {"type": "array", "items": {"type": "array", "items": "int"}}),
        field("n", "null"),
    ],
}
PARSED = fastavro.parse_schema(RICH)
READ = compile_reader(from_avro(PARSED), rows=frozenset(), raw=frozenset())

text = st.text(max_size=12)
finite = st.floats(allow_nan=False)
inner = st.fixed_dictionaries({"x": st.integers(-(2**63), 2**63 - 1), "y": st.none() | text})
RECORDS = st.fixed_dictionaries(
    {
        "b": st.booleans(),
        "i": st.integers(-(2**31), 2**31 - 1),
        "l": st.integers(-(2**63), 2**63 - 1),
        "f": st.floats(width=32, allow_nan=False),
        "d": finite,
        "s": text,
        "by": st.binary(max_size=20),
        "e": st.sampled_from(["A", "B", "C"]),
        "fx": st.binary(min_size=4, max_size=4),
        "oi": st.none() | st.integers(-(2**63), 2**63 - 1),
        "os": st.none() | text,
        "u": st.none()
        | st.integers(-(2**40), 2**40)
        | text
        | st.lists(st.integers(-5, 5), max_size=3),
        "arr": st.lists(inner, max_size=4),
        "m": st.dictionaries(text, st.none() | finite, max_size=4),
        "nested": inner,
        "arr2": st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=3), max_size=3),
        "n": st.none(),
    }
)


@given(RECORDS)
def test_reader_matches_fastavro(record: dict[str, Any]) -> None:
    body = avro_body(RICH, record)
    expected = fastavro.schemaless_reader(io.BytesIO(body), PARSED)
    got, end = READ(body, 0)
    assert end == len(body)
    assert got == expected


@pytest.mark.parametrize(
    "n", [0, 1, -1, 63, 64, -64, -65, 8191, 8192, 2**31 - 1, -(2**31), 2**62, 2**63 - 1, -(2**63)]
)
def test_long_boundaries(n: int) -> None:
    schema = {"type": "record", "name": "L", "fields": [field("v", "long")]}
    body = avro_body(schema, {"v": n})
    reader = compile_reader(from_avro(schema), rows=frozenset(), raw=frozenset())
    assert reader(body, 0) == ({"v": n}, len(body))


def test_varint_rejects_more_than_ten_bytes() -> None:
    with pytest.raises(ValueError):
        _varint(b"\xff" * 12, 0, 0xFF)


def test_array_blocks_with_negative_count_and_size() -> None:
    """Writers may emit blocks as (-count, byte size); both forms and several blocks decode."""
    schema = {
        "type": "record",
        "name": "A",
        "fields": [field("a", {"type": "array", "items": "int"})],
    }
    # block 1: count -2 (zigzag 3), size 2 bytes, items 1, 2; block 2: count 1, item 3; end 0
    body = bytes([3, 4, 2, 4, 2, 6, 0])
    reader = compile_reader(from_avro(schema), rows=frozenset(), raw=frozenset())
    assert reader(body, 0) == ({"a": [1, 2, 3]}, len(body))


def test_float_special_values() -> None:
    schema = {"type": "record", "name": "F", "fields": [field("d", "double"), field("f", "float")]}
    body = struct.pack("<d", math.inf) + struct.pack("<f", math.nan)
    reader = compile_reader(from_avro(schema), rows=frozenset(), raw=frozenset())
    got, _ = reader(body, 0)
    assert got["d"] == math.inf and math.isnan(got["f"])


VALUE: dict[str, Any] = {
    "type": "record",
    "name": "Value",
    "namespace": "db.public.t",
    "fields": [
        field("id", "long"),
        field("name", opt("string")),
        field("doc", opt({"type": "string", "connect.name": "io.debezium.data.Json"})),
        field("blob", opt("bytes")),
        field(
            "price",
            opt(
                {
                    "type": "bytes",
                    "scale": 2,
                    "precision": 10,
                    "connect.name": "org.apache.kafka.connect.data.Decimal",
                    "connect.parameters": {"scale": "2"},
                    "logicalType": "decimal",
                }
            ),
        ),
        field("tags", opt({"type": "array", "items": "string"})),
        field("ints", opt({"type": "array", "items": "int"})),
        field("attrs", opt({"type": "map", "values": "string"})),
        field("day", {"type": "int", "connect.name": "io.debezium.time.Date"}),
        field("at", opt({"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"})),
    ],
}
ENVELOPE: dict[str, Any] = {
    "type": "record",
    "name": "Envelope",
    "namespace": "db.public.t",
    "fields": [
        field("before", opt(VALUE)),
        field("after", opt("db.public.t.Value")),
        field("op", "string"),
        field("note", opt({"type": "string", "connect.name": "io.debezium.data.Json"})),
    ],
}
P = "__debezium_unavailable_value"


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 1,
        "name": "n",
        "doc": '{"k": 1}',
        "blob": b"\x01",
        "price": Decimal("-12.30"),
        "tags": ["a"],
        "ints": [1],
        "attrs": {"a": "b"},
        "day": 19000,
        "at": 1_700_000_000_000_000,
    }
    row.update(over)
    return row


def test_rows_are_converted_and_other_fields_too() -> None:
    body = avro_body(ENVELOPE, {"before": None, "after": _row(), "op": "c", "note": "[1]"})
    got = compile_plan(9, fastavro.parse_schema(ENVELOPE)).decode(frame(9, body))
    after = got["after"]
    assert after["doc"] == {"k": 1}
    assert after["price"] == Decimal("-12.30") and str(after["price"]) == "-12.30"
    assert after["day"] == date(2022, 1, 8)
    assert after["at"] == datetime(2023, 11, 14, 22, 13, 20)
    assert got["note"] == [1]  # semantic types outside rows are converted as well
    assert got["before"] is None


@pytest.mark.parametrize(
    ("column", "placeholder"),
    [
        ("name", P),
        ("doc", P),  # a TOASTed jsonb: placeholder checked before JSON parsing
        ("blob", P.encode()),
        ("price", P.encode()),  # a TOASTed numeric: checked before decimal conversion
        ("tags", [P]),
        ("ints", list(P.encode())),
        ("attrs", {P: P}),
    ],
)
def test_toast_placeholders_in_rows_become_unchanged(column: str, placeholder: Any) -> None:
    # fastavro cannot write the placeholder bytes as a Decimal: write the price as plain bytes
    writer_value = _strip_logical(VALUE) if column == "price" else VALUE
    writer = {**ENVELOPE, "fields": [field("before", opt(writer_value)), *ENVELOPE["fields"][1:]]}
    row = _row(**{column: placeholder})
    body = avro_body(writer, {"before": None, "after": row, "op": "u", "note": None})
    got = compile_plan(9, fastavro.parse_schema(ENVELOPE)).decode(frame(9, body))
    assert got["after"][column] is UNCHANGED
    assert got["after"]["id"] == 1


def _strip_logical(schema: dict[str, Any]) -> dict[str, Any]:
    fields = []
    for f in schema["fields"]:
        t = f["type"]
        if isinstance(t, list) and isinstance(t[1], dict) and t[1].get("logicalType") == "decimal":
            t = ["null", {k: v for k, v in t[1].items() if k != "logicalType"}]
        fields.append({**f, "type": t})
    return {**schema, "fields": fields}


def test_placeholder_outside_rows_is_a_plain_value() -> None:
    schema = {"type": "record", "name": "K", "fields": [field("id", "string")]}
    body = avro_body(schema, {"id": P})
    got = compile_plan(3, fastavro.parse_schema(schema)).decode(frame(3, body))
    assert got == {"id": P}


def test_trailing_bytes_are_an_error() -> None:
    schema = {"type": "record", "name": "K", "fields": [field("id", "long")]}
    plan = compile_plan(3, fastavro.parse_schema(schema))
    with pytest.raises(DecodeError, match="left over"):
        plan.decode(frame(3, avro_body(schema, {"id": 1}) + b"\x00"))


def test_truncated_body_names_the_field() -> None:
    body = avro_body(ENVELOPE, {"before": None, "after": _row(), "op": "c", "note": None})
    plan = compile_plan(9, fastavro.parse_schema(ENVELOPE))
    with pytest.raises(DecodeError, match=r"after\.at") as info:
        plan.decode(frame(9, body[:-6]))
    assert info.value.field == "after.at"


def test_bad_conversion_names_the_field_not_the_value() -> None:
    secret = '{"ssn": "123-45-6789"'  # invalid JSON in a Json column
    body = avro_body(ENVELOPE, {"before": None, "after": _row(doc=secret), "op": "c", "note": None})
    plan = compile_plan(9, fastavro.parse_schema(ENVELOPE))
    with pytest.raises(DecodeError) as info:
        plan.decode(frame(9, body))
    assert info.value.field == "after.doc"
    assert "123-45" not in str(info.value) and "JSONDecodeError" in str(info.value)


def test_bad_union_index_is_an_error() -> None:
    schema = {"type": "record", "name": "K", "fields": [field("v", opt("long"))]}
    plan = compile_plan(3, fastavro.parse_schema(schema))
    with pytest.raises(DecodeError):
        plan.decode(frame(3, b"\x04\x02"))


def test_null_second_union_and_non_optional_row() -> None:
    value = {"type": "record", "name": "V", "fields": [field("a", "string")]}
    env = {
        "type": "record",
        "name": "Env",
        "fields": [
            {"name": "after", "type": [value, "null"]},
            {"name": "before", "type": "V"},
            field("op", "string"),
        ],
    }
    body = avro_body(env, {"after": {"a": P}, "before": {"a": "x"}, "op": "u"})
    got = compile_plan(4, fastavro.parse_schema(env)).decode(frame(4, body))
    assert got == {"after": {"a": UNCHANGED}, "before": {"a": "x"}, "op": "u"}


def test_recursive_schema_is_rejected() -> None:
    schema = {
        "type": "record",
        "name": "Node",
        "fields": [field("v", "long"), field("next", opt("Node"))],
    }
    with pytest.raises(DecodeError, match="recursive"):
        compile_plan(5, fastavro.parse_schema(schema))


def test_field_names_are_data_not_code() -> None:
    """A hostile field name must not be able to inject code into the generated reader."""
    name = "x'); import os; os._exit(3); ('"
    schema = {"type": "record", "name": "K", "fields": [{"name": "ok", "type": "long"}]}
    parsed: Any = fastavro.parse_schema(schema)
    parsed["fields"][0]["name"] = name  # fastavro would reject it; a registry might not
    plan = compile_plan(6, parsed)
    assert plan.decode(frame(6, b"\x02")) == {name: 1}
