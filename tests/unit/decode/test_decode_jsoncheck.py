"""Connect JSON values are checked against their schema (issue 11, finding 4)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from decode_helpers import connect_message, pg_source

from streamapp.decode import Decoder
from streamapp.decode.jsoncheck import Mismatch, checker
from streamapp.decode.schema import from_connect
from streamapp.errors import DecodeBug, DecodeError

TOPIC = "db.public.t"


def envelope_schema(*fields: dict[str, Any]) -> dict[str, Any]:
    row = {"type": "struct", "optional": True, "name": "db.public.t.Value", "fields": list(fields)}
    source = {
        "type": "struct",
        "field": "source",
        "fields": [
            {"type": "string", "field": "connector"},
            {"type": "int64", "optional": True, "field": "lsn"},
            {"type": "int64", "field": "ts_ms"},
        ],
    }
    return {
        "type": "struct",
        "name": "db.public.t.Envelope",
        "fields": [
            {**row, "field": "before"},
            {**row, "field": "after"},
            source,
            {"type": "string", "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
        ],
    }


def decode(ctype: Any, value: Any) -> Any:
    col = ctype if isinstance(ctype, dict) else {"type": ctype, "optional": True}
    schema = envelope_schema({"type": "int32", "field": "id"}, {**col, "field": "v"})
    payload = {"before": None, "after": {"id": 1, "v": value}, "source": pg_source(), "op": "c"}
    return Decoder().decode(None, connect_message(schema, payload), topic=TOPIC).after["v"]


@pytest.mark.parametrize(
    ("ctype", "value", "schema_says", "payload_has"),
    [
        ("int32", "12", "int32", "string"),
        ("int64", 2**63, "int64", "an integer outside the int64 range"),
        ("int64", -(2**63) - 1, "int64", "an integer outside the int64 range"),
        ("int32", 1.797695e308, "int32", "float"),
        ("int16", 2**15, "int16", "an integer outside the int16 range"),
        ("int8", -129, "int8", "an integer outside the int8 range"),
        ("int32", True, "int32", "boolean"),
        ("boolean", 1, "boolean", "integer"),
        ("string", 5, "string", "integer"),
        ("double", "12.5", "double", "string"),
        ("float", [1.0], "float", "array"),
        ("bytes", 5, "bytes", "integer"),
        ({"type": "array", "items": {"type": "int32"}}, "[1]", "array", "string"),
        (
            {"type": "map", "keys": {"type": "string"}, "values": {"type": "int64"}},
            [],
            "map",
            "array",
        ),
        (
            {"type": "struct", "fields": [{"type": "int32", "field": "a"}]},
            {"a": "x"},
            "int32",
            "string",
        ),
    ],
)
def test_values_that_do_not_match_their_schema_are_refused(
    ctype: Any, value: Any, schema_says: str, payload_has: str
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(ctype, value)
    assert not isinstance(info.value, DecodeBug)
    message = str(info.value)
    assert "field 'after.v" in message
    assert f"is {schema_says} in the message schema but the payload has {payload_has}" in message
    assert info.value.field == "v"


def test_the_path_inside_a_container_is_named() -> None:
    ctype = {"type": "array", "items": {"type": "int32"}}
    with pytest.raises(DecodeError, match=r"field 'after\.v\[2\]' is int32 .* has string"):
        decode(ctype, [1, 2, "3"])


@pytest.mark.parametrize(
    ("ctype", "value", "expected"),
    [
        ("int64", 2**63 - 1, 2**63 - 1),
        ("int8", -128, -128),
        ("int16", 32767, 32767),
        ("double", 1.797695e308, 1.797695e308),
        ("double", "Infinity", math.inf),
        ("double", "-Infinity", -math.inf),
        ("float", 3, 3.0),  # an integral number is still a number
        ("boolean", False, False),
        ({"type": "array", "items": {"type": "double"}}, [1.5, "NaN", None], None),
        (
            {"type": "map", "keys": {"type": "string"}, "values": {"type": "int8"}},
            {"a": 1},
            {"a": 1},
        ),
        (
            {
                "type": "bytes",
                "name": "org.apache.kafka.connect.data.Decimal",
                "parameters": {"scale": "2"},
            },
            12.5,
            None,
        ),  # decimal.format=NUMERIC
    ],
)
def test_values_that_match_pass(ctype: Any, value: Any, expected: Any) -> None:
    got = decode(ctype, value)
    if expected is not None:
        assert got == expected and type(got) is type(expected)


def test_nan_text_becomes_a_float_nan() -> None:
    got = decode("double", "NaN")
    assert isinstance(got, float) and math.isnan(got)
    items = decode({"type": "array", "items": {"type": "float"}}, ["NaN"])
    assert math.isnan(items[0])


def test_a_primitive_key_is_checked_too() -> None:
    key = connect_message({"type": "int32"}, "1")
    value = connect_message(
        envelope_schema({"type": "int32", "field": "id"}),
        {"before": None, "after": {"id": 1}, "source": pg_source(), "op": "c"},
    )
    with pytest.raises(DecodeError, match="is int32 in the message schema but the payload has"):
        Decoder().decode(key, value, topic=TOPIC)


def test_checker_names_both_types() -> None:
    with pytest.raises(Mismatch) as info:
        checker(from_connect({"type": "int16"}))("x")
    assert (info.value.expected, info.value.got) == ("int16", "string")


def test_a_field_the_payload_omits_is_null_as_jsonconverter_reads_it() -> None:
    """Kafka's JsonConverterTest.structWithOptionalFieldToConnect."""
    key = connect_message(
        {
            "type": "struct",
            "fields": [
                {"field": "optional", "type": "string", "optional": True},
                {"field": "required", "type": "string"},
            ],
        },
        {"required": "required"},
    )
    event = Decoder().decode(key, None, topic=TOPIC)
    assert event.key == {"optional": None, "required": "required"}
