"""Avro and Kafka Connect JSON schemas -> SType."""

from __future__ import annotations

from typing import Any

import fastavro
import pytest

from streamapp.decode.schema import CONNECT_TYPE_NAMES, MAX_DEPTH, SType, from_avro, from_connect
from streamapp.errors import DecodeError


def test_avro_optional_union_and_named_reference() -> None:
    value = {
        "type": "record",
        "name": "Value",
        "namespace": "a.b",
        "fields": [{"name": "x", "type": "int"}],
    }
    env = {
        "type": "record",
        "name": "Env",
        "namespace": "a.b",
        "fields": [
            {"name": "before", "type": ["null", value]},
            {"name": "after", "type": [value["name"], "null"]},
        ],
    }
    top = from_avro(fastavro.parse_schema(env))
    before, after = top.child("before"), top.child("after")
    assert before is not None and after is not None
    assert before.optional and before.null_index == 0 and before.kind == "struct"
    assert after.optional and after.null_index == 1
    assert before.fields == after.fields
    assert before.name == "a.b.Value"


def test_avro_semantics_and_params() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {
                "name": "p",
                "type": {
                    "type": "bytes",
                    "scale": 3,
                    "precision": 9,
                    "logicalType": "decimal",
                    "connect.name": "org.apache.kafka.connect.data.Decimal",
                    "connect.parameters": {"scale": "3", "connect.decimal.precision": "9"},
                },
            },
            {"name": "d", "type": {"type": "int", "logicalType": "date"}},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["x", "y"]}},
            {"name": "f", "type": {"type": "fixed", "name": "F", "size": 3}},
            {"name": "m", "type": {"type": "map", "values": "long"}},
            {"name": "u", "type": ["null", "int", "string"]},
        ],
    }
    top = from_avro(schema)  # a plain (unparsed) schema dict is accepted too
    p, d, e, f, m, u = (top.child(n) for n in "pdefmu")
    assert p == SType(
        "bytes",
        semantic="org.apache.kafka.connect.data.Decimal",
        params=(("scale", "3"), ("connect.decimal.precision", "9")),
    )
    assert p.param("scale") == "3" and p.param("nope") is None
    assert d == SType("int", semantic="avro:date")
    assert e is not None and e.kind == "enum" and e.symbols == ("x", "y")
    assert f is not None and f.size == 3
    assert m is not None and m.kind == "map" and m.items == SType("long")
    assert (
        u is not None
        and u.kind == "union"
        and [b.kind for b in u.branches] == ["null", "int", "string"]
    )


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "R", "fields": [{"name": "x", "type": "Nope"}]},
        {"type": "nonsense"},
        42,
    ],
    ids=["unknown-reference", "unknown-type", "not-a-schema"],
)
def test_avro_invalid_schemas(schema: Any) -> None:
    with pytest.raises(DecodeError):
        from_avro(schema)


def test_avro_depth_limit() -> None:
    schema: Any = "long"
    for _ in range(MAX_DEPTH + 2):
        schema = {"type": "array", "items": schema}
    with pytest.raises(DecodeError, match="deeper"):
        from_avro({"type": "record", "name": "R", "fields": [{"name": "a", "type": schema}]})


# The names JsonConverter writes (org.apache.kafka.connect.json.JsonSchema): FLOAT32 is
# "float" and FLOAT64 is "double"; there is no "float32"/"float64".
@pytest.mark.parametrize(
    ("connect_type", "kind", "width"),
    [
        ("int8", "int", 8),
        ("int16", "int", 16),
        ("int32", "int", 32),
        ("int64", "long", 64),
        ("float", "float", 0),
        ("double", "double", 0),
        ("boolean", "boolean", 0),
        ("string", "string", 0),
        ("bytes", "bytes", 0),
    ],
)
def test_connect_primitives(connect_type: str, kind: str, width: int) -> None:
    got = from_connect({"type": connect_type, "optional": True})
    assert got == SType(kind, optional=True)
    assert got.width == width


def test_connect_type_names_are_jsonconverters() -> None:
    assert set(CONNECT_TYPE_NAMES) == {
        "boolean", "int8", "int16", "int32", "int64", "float", "double",
        "bytes", "string", "array", "map", "struct",
    }  # fmt: skip


@pytest.mark.parametrize("name", ["float32", "float64", "int", "long", "decimal"])
def test_connect_names_it_never_writes_are_refused(name: str) -> None:
    with pytest.raises(DecodeError, match=f"unknown Connect type '{name}'.*double"):
        from_connect({"type": name})


def test_connect_map_with_non_string_keys_is_refused() -> None:
    schema = {"type": "map", "keys": {"type": "int32"}, "values": {"type": "string"}}
    with pytest.raises(DecodeError, match="'int32' keys"):
        from_connect(schema)
    schema["keys"] = {"type": "string"}
    assert from_connect(schema).items == SType("string")


def test_connect_struct_array_map_and_semantics() -> None:
    schema = {
        "type": "struct",
        "name": "db.t.Value",
        "fields": [
            {"type": "int32", "field": "d", "name": "io.debezium.time.Date", "version": 1},
            {
                "type": "bytes",
                "field": "p",
                "name": "org.apache.kafka.connect.data.Decimal",
                "parameters": {"scale": "2"},
            },
            {"type": "array", "field": "a", "items": {"type": "string"}},
            {"type": "map", "field": "m", "keys": {"type": "string"}, "values": {"type": "int64"}},
        ],
    }
    top = from_connect(schema)
    assert top.field_names() == {"d", "p", "a", "m"}
    assert top.child("d") == SType("int", semantic="io.debezium.time.Date")
    p = top.child("p")
    assert p is not None and p.param("scale") == "2"
    assert top.child("a") == SType("array", items=SType("string"))
    assert top.child("m") == SType("map", items=SType("long"))


@pytest.mark.parametrize(
    "schema",
    [None, {"type": "decimal"}, {"type": "struct"}, {"fields": []}],
    ids=["none", "unknown-type", "struct-without-fields", "no-type"],
)
def test_connect_invalid(schema: Any) -> None:
    with pytest.raises(DecodeError):
        from_connect(schema)
