"""Output schema derivation: the Avro mapping per kind, its inverse, and declared-schema checks."""

from __future__ import annotations

from typing import Any

import fastavro
import pytest
from encode_strategies import columns
from hypothesis import given

from streamapp.encode.schema import (
    avro_schema_for,
    avro_type,
    columns_from_avro,
    describe_avro,
    key_schema_for,
    schema_problems,
)
from streamapp.errors import ConfigError, TopologyError
from streamapp.types import FieldType, parse_type

NS = "streamapp.out"


def value_schema(cols: dict[str, FieldType], keys: tuple[str, ...] = ()) -> dict[str, Any]:
    return avro_schema_for(cols, name="orders", namespace=NS, key_columns=keys)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("string", "string"),
        ("int", "long"),
        ("float", "double"),
        ("bool", "boolean"),
        ("bytes", "bytes"),
        ("decimal(12,2)", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}),
        ("date", {"type": "int", "logicalType": "date"}),
        ("time", {"type": "long", "logicalType": "time-micros"}),
        ("timestamp", {"type": "long", "logicalType": "local-timestamp-micros"}),
        ("timestamptz", {"type": "long", "logicalType": "timestamp-micros"}),
        ("uuid", {"type": "string", "logicalType": "uuid"}),
        ("json", {"type": "string", "streamapp.type": "json"}),
        ("duration", {"type": "long", "streamapp.type": "duration"}),
        ("array<int>", {"type": "array", "items": ["null", "long"]}),
        ("map<string>", {"type": "map", "values": ["null", "string"]}),
    ],
)
def test_avro_type_per_kind(spec: str, expected: Any) -> None:
    assert avro_type(parse_type(spec)) == expected


def test_nested_record_is_named_by_column_in_enclosing_namespace() -> None:
    t = avro_type(parse_type({"city": "string"}), "ns.orders", "address")
    assert t == {
        "type": "record",
        "name": "address_record",
        "namespace": "ns.orders",
        "fields": [{"name": "city", "type": ["null", "string"], "default": None}],
    }


def test_value_schema_shape_key_non_null_others_nullable_bookkeeping_last() -> None:
    schema = value_schema({"id": parse_type("int"), "name": parse_type("string")}, ("id",))
    assert schema["name"] == "orders"
    assert schema["namespace"] == NS
    assert schema["fields"] == [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"], "default": None},
        {"name": "__deleted", "type": "boolean", "default": False},
        {"name": "__unchanged", "type": {"type": "array", "items": "string"}, "default": []},
    ]
    fastavro.parse_schema(schema)


def test_nested_names_never_collide() -> None:
    # "a_b" at the top and "a" -> "b" nested would both be "orders_a_b" with naive joining.
    cols = {
        "a_b": parse_type({"x": "int"}),
        "a": parse_type({"b": {"x": "int"}}),
        "c": parse_type("array<map<" + "int" + ">>"),
    }
    fastavro.parse_schema(value_schema(cols))  # raises on a duplicate full name


def test_key_schema_follows_key_column_order_and_is_non_null() -> None:
    cols = {"a": parse_type("string"), "b": parse_type("int"), "c": parse_type("date")}
    schema = key_schema_for(cols, name="orders_key", namespace=NS, key_columns=["c", "a"])
    assert [f["name"] for f in schema["fields"]] == ["c", "a"]
    assert all(not isinstance(f["type"], list) for f in schema["fields"])
    fastavro.parse_schema(schema)


def test_key_schema_needs_key_columns() -> None:
    with pytest.raises(TopologyError, match="no key columns"):
        key_schema_for({"a": parse_type("int")}, name="k", namespace=NS, key_columns=[])


@pytest.mark.parametrize(
    ("cols", "name", "namespace", "keys", "needle"),
    [
        ({"bad name": "int"}, "orders", NS, (), "column 'bad name' is not a valid Avro name"),
        ({"1st": "int"}, "orders", NS, (), "column '1st' is not a valid Avro name"),
        ({"a": {"ok": {"bad-x": "int"}}}, "orders", NS, (), "'a.ok.bad-x' is not a valid"),
        ({"a": "array<{}>".format("int")}, "or-ders", NS, (), "record name 'or-ders'"),
        ({"a": "int"}, "orders", "x..y", (), "namespace 'x..y'"),
        ({"a": "int"}, "orders", NS, ("id",), "key column 'id' is not among"),
        ({"__unchanged": "int"}, "orders", NS, (), "clashes with the bookkeeping field"),
    ],
)
def test_invalid_names_raise_topology_error(
    cols: dict[str, Any], name: str, namespace: str, keys: tuple[str, ...], needle: str
) -> None:
    typed = {c: parse_type(t) for c, t in cols.items()}
    with pytest.raises(TopologyError) as info:
        avro_schema_for(typed, name=name, namespace=namespace, key_columns=keys)
    assert any(needle in p for p in info.value.problems), info.value.problems


def test_nested_name_inside_array_of_records_is_checked() -> None:
    cols = {"lines": FieldType(parse_type("array<int>").kind, items=parse_type({"bad x": "int"}))}
    with pytest.raises(TopologyError, match=r"'lines\.bad x'"):
        value_schema(cols)


@given(columns())
def test_columns_from_avro_inverts_avro_schema_for(cols: dict[str, FieldType]) -> None:
    keys = tuple(list(cols)[:1])
    schema = value_schema(cols, keys)
    fastavro.parse_schema(schema)
    assert columns_from_avro(schema) == cols
    assert schema_problems(schema, cols, key_columns=keys) == []


@pytest.mark.parametrize(
    "field_type",
    [
        ["null", "long"],
        ["long", "null"],
        "long",
        {"type": ["null", "long"]},
    ],
)
def test_columns_from_avro_accepts_any_nullable_form(field_type: Any) -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "n", "type": field_type}]}
    assert columns_from_avro(schema) == {"n": parse_type("int")}


@pytest.mark.parametrize(
    ("field_type", "needle"),
    [
        ("int", "Avro type int"),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, "enum E"),
        ({"type": "fixed", "name": "F", "size": 4}, "fixed(4)"),
        (["null", "string", "long"], "union[null, string, long]"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "long/timestamp-millis"),
    ],
)
def test_columns_from_avro_rejects_types_streamapp_does_not_produce(
    field_type: Any, needle: str
) -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "n", "type": field_type}]}
    with pytest.raises(ConfigError, match="field 'n'") as info:
        columns_from_avro(schema)
    assert needle in str(info.value)


def test_columns_from_avro_needs_a_record() -> None:
    with pytest.raises(ConfigError, match="not an Avro record"):
        columns_from_avro({"type": "string"})


def _declared(*fields: dict[str, Any], bookkeeping: bool = True) -> dict[str, Any]:
    extra = value_schema({"x": parse_type("int")})["fields"][1:] if bookkeeping else []
    return {"type": "record", "name": "orders", "fields": [*fields, *extra]}


DEC_10_2 = {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}


@pytest.mark.parametrize(
    ("declared", "cols", "keys", "expected"),
    [
        (
            _declared({"name": "total", "type": ["null", DEC_10_2], "default": None}),
            {"total": "decimal(12,2)"},
            (),
            ["field 'total': declared bytes/decimal(10,2), topology produces decimal(12,2)"],
        ),
        (
            _declared({"name": "id", "type": "long"}),
            {"id": "int", "x": "string"},
            ("id",),
            ["field 'x' is produced but missing from the declared schema"],
        ),
        (
            _declared({"name": "id", "type": "long"}, {"name": "y", "type": "string"}),
            {"id": "int"},
            ("id",),
            ["declared field 'y' is not produced and has no default"],
        ),
        (
            _declared({"name": "id", "type": "long"}, {"name": "y", "type": "long", "default": 0}),
            {"id": "int"},
            ("id",),
            [],
        ),
        (
            _declared({"name": "n", "type": ["null", "int"], "default": None}),
            {"n": "int"},
            (),
            ["field 'n': declared int, topology produces int (Avro long)"],
        ),
        (
            _declared({"name": "n", "type": "long"}),
            {"n": "int"},
            (),
            ["field 'n': declared non-null, but it is not a key column and may be null; "
             'declare ["null", T] with "default": null'],
        ),
        (
            _declared({"name": "n", "type": ["null", "long"], "default": None}),
            {"n": "int"},
            ("n",),
            [],
        ),
        (
            _declared({"name": "id", "type": "long"}, bookkeeping=False),
            {"id": "int"},
            ("id",),
            ["declared schema has no '__unchanged' field; add {\"name\": \"__unchanged\", "
             "\"type\": {\"type\": \"array\", \"items\": \"string\"}, \"default\": []} so columns "
             "that were not sent are not read as null"],
        ),
        (
            {"type": "record", "name": "o", "fields": [
                {"name": "__unchanged", "type": "string"},
                {"name": "__deleted", "type": "string"},
            ]},
            {},
            (),
            ["field '__unchanged': declared string, must be array<string>",
             "field '__deleted': declared string, must be boolean"],
        ),
        (
            _declared({"name": "bad name", "type": ["null", "long"], "default": None}),
            {"bad name": "int"},
            (),
            ["column 'bad name' is not a valid Avro name (letters, digits and _, not starting "
             "with a digit); rename it"],
        ),
        (
            _declared({"name": "id", "type": "long"}),
            {"id": "int"},
            ("id", "other"),
            ["key column 'other' is not among the produced columns"],
        ),
        ({"type": "string"}, {"id": "int"}, (), ["declared schema is not an Avro record with a "
                                                 "'fields' list"]),
    ],
)  # fmt: skip
def test_schema_problems(
    declared: dict[str, Any], cols: dict[str, str], keys: tuple[str, ...], expected: list[str]
) -> None:
    typed = {c: parse_type(t) for c, t in cols.items()}
    assert schema_problems(declared, typed, key_columns=keys) == expected


def test_schema_problems_compares_nested_structure_not_record_names() -> None:
    cols = {"addr": parse_type({"city": "string", "zip": "int"})}
    declared = value_schema(cols)
    declared["fields"][0]["type"][1]["name"] = "Address"  # a hand-written .avsc names it freely
    assert schema_problems(declared, cols, key_columns=()) == []
    other = {"addr": parse_type({"city": "string", "zip": "string"})}
    assert schema_problems(declared, other, key_columns=()) == [
        "field 'addr': declared record Address, topology produces {city: string, zip: string}"
    ]


@pytest.mark.parametrize(
    ("avro", "text"),
    [
        ("string", "string"),
        (["null", "long"], "union[null, long]"),
        (DEC_10_2, "bytes/decimal(10,2)"),
        ({"type": "fixed", "name": "F", "size": 8, "logicalType": "decimal", "precision": 4},
         "fixed(8)/decimal(4,0)"),
        ({"type": "array", "items": "string"}, "array<string>"),
        ({"type": "map", "values": "long"}, "map<long>"),
        ({"type": "long", "streamapp.type": "duration"}, "long/duration"),
        ({"type": {"type": "string"}}, "string"),
        (3, "int"),
    ],
)  # fmt: skip
def test_describe_avro(avro: Any, text: str) -> None:
    assert describe_avro(avro) == text
