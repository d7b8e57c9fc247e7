"""Declared column types win over the message schema: exact conversion or refusal (finding 5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from decode_helpers import DictResolver, avro_message, connect_message, envelope, field, opt

from streamapp.decode import Decoder
from streamapp.decode.declared import CONVERTIBLE
from streamapp.decode.drift import type_change
from streamapp.errors import DecodeError
from streamapp.types import FieldType, Kind, parse_type

TOPIC = "mysql.shop.t"
MYSQL = {
    "version": "3.0.8.Final",
    "connector": "mysql",
    "name": "mysql",
    "ts_ms": 1,
    "db": "shop",
    "table": "t",
    "file": "mysql-bin.000003",
    "pos": 154,
    "row": 0,
}


def json_event(ctype: dict[str, Any], value: Any) -> bytes:
    row = {
        "type": "struct",
        "optional": True,
        "fields": [{"type": "int32", "field": "id"}, {**ctype, "optional": True, "field": "v"}],
    }
    schema = {
        "type": "struct",
        "fields": [
            {**row, "field": "before"},
            {**row, "field": "after"},
            {
                "type": "struct",
                "field": "source",
                "fields": [
                    {"type": "string", "field": "connector"},
                    {"type": "string", "field": "file"},
                    {"type": "int64", "field": "pos"},
                    {"type": "int64", "field": "ts_ms"},
                ],
            },
            {"type": "string", "field": "op"},
        ],
    }
    payload = {"before": None, "after": {"id": 1, "v": value}, "source": MYSQL, "op": "c"}
    return connect_message(schema, payload)


def decode(ctype: dict[str, Any], value: Any, declared: str, **handling: str) -> Any:
    dec = Decoder(hints={"id": parse_type("int"), "v": parse_type(declared)}, handling=handling)
    return dec.decode(None, json_event(ctype, value), topic=TOPIC).after["v"]


ZONED = {"type": "string", "name": "io.debezium.time.ZonedTimestamp"}
MICRO_TS = {"type": "int64", "name": "io.debezium.time.MicroTimestamp"}
UUID_T = {"type": "string", "name": "io.debezium.data.Uuid"}
JSON_T = {"type": "string", "name": "io.debezium.data.Json"}
DEC = {
    "type": "bytes",
    "name": "org.apache.kafka.connect.data.Decimal",
    "parameters": {"scale": "2"},
}
U = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


@pytest.mark.parametrize(
    ("ctype", "value", "declared", "handling", "expected"),
    [
        ({"type": "int16"}, 1, "bool", {}, True),  # MySQL BOOLEAN / TINYINT(1)
        ({"type": "int16"}, 0, "bool", {}, False),
        ({"type": "int64"}, 2**53, "float", {}, float(2**53)),
        ({"type": "int32"}, 7, "decimal(5,2)", {}, Decimal(7)),
        (DEC, "BNI=", "float", {}, 12.34),
        (
            {"type": "double"},
            0.1,
            "decimal(5,2)",
            {"decimal.handling.mode": "double"},
            Decimal("0.10"),
        ),
        (
            {"type": "string"},
            "12.345",
            "decimal(6,3)",
            {"decimal.handling.mode": "string"},
            Decimal("12.345"),
        ),
        (UUID_T, U, "string", {}, U),
        ({"type": "string"}, U, "uuid", {}, uuid.UUID(U)),
        (JSON_T, '{"a": [1, 2]}', "string", {}, '{"a":[1,2]}'),
        ({"type": "string"}, '{"a": 1}', "json", {}, {"a": 1}),
        (ZONED, "2026-03-01T10:00:00Z", "timestamp", {}, datetime(2026, 3, 1, 10)),
        (MICRO_TS, 0, "timestamptz", {}, datetime(1970, 1, 1, tzinfo=UTC)),
        ({"type": "string"}, "00ff", "bytes", {"binary.handling.mode": "hex"}, b"\x00\xff"),
        ({"type": "string"}, "AP8=", "bytes", {"binary.handling.mode": "base64"}, b"\x00\xff"),
        (
            {"type": "string", "name": "io.debezium.time.Interval"},
            "P1DT2H",
            "duration",
            {"interval.handling.mode": "string"},
            timedelta(days=1, hours=2),
        ),
        ({"type": "string"}, '{"a": "1"}', "map<int>", {}, None),  # text, members declared int
    ],
)
def test_exact_conversions_to_the_declared_type(
    ctype: dict[str, Any], value: Any, declared: str, handling: dict[str, str], expected: Any
) -> None:
    if expected is None:
        with pytest.raises(
            DecodeError,
            match=r"'after\.v' \(writer string -> declared map<int>\) "
            "cannot be converted exactly: expected an integer, got str",
        ):
            decode(ctype, value, declared, **handling)
        return
    got = decode(ctype, value, declared, **handling)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("ctype", "value", "declared", "reason"),
    [
        ({"type": "int16"}, 2, "bool", "it is neither 0 nor 1"),
        ({"type": "int64"}, 2**53 + 1, "float", "more digits than a double holds exactly"),
        ({"type": "string"}, "nope", "uuid", ""),
        ({"type": "string"}, "12,5", "decimal(5,2)", ""),
    ],
)
def test_values_without_an_exact_conversion_go_to_the_dlq(
    ctype: dict[str, Any], value: Any, declared: str, reason: str
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(ctype, value, declared)
    message = str(info.value)
    assert f"field 'after.v' (writer {ctype.get('name') or ''}" in message or (
        "field 'after.v' (writer " in message
    )
    assert f"-> declared {parse_type(declared)}) cannot be converted exactly" in message
    assert reason in message and str(value) not in message.split(": ", 1)[1]
    assert info.value.field == "v"


@pytest.mark.parametrize(
    ("ctype", "declared", "handling", "why"),
    [
        ({"type": "int32"}, "string", {}, "there is no exact conversion"),
        ({"type": "string"}, "int", {}, "there is no exact conversion"),
        ({"type": "int32", "name": "io.debezium.time.Date"}, "timestamp", {}, "no exact"),
        ({"type": "string"}, "bytes", {}, "binary.handling.mode"),
        (
            {"type": "string", "name": "io.debezium.time.Interval"},
            "duration",
            {},
            "interval.handling.mode=string",
        ),
    ],
)
def test_a_schema_type_with_no_conversion_is_refused_from_the_first_message(
    ctype: dict[str, Any], declared: str, handling: dict[str, str], why: str
) -> None:
    dec = Decoder(hints={"v": parse_type(declared)}, handling=handling)
    for _ in range(2):  # every message of the schema, with the same one line
        with pytest.raises(DecodeError) as info:
            dec.decode(None, json_event(ctype, None), topic=TOPIC)  # even a NULL value
        message = str(info.value)
        assert "\n" not in message
        assert "column 'v' is " in message and f"but declared {parse_type(declared)}" in message
        assert why in message


def test_avro_mysql_boolean_as_int16_becomes_bool() -> None:
    value = {
        "type": "record",
        "name": "Value",
        "namespace": "mysql.shop.t",
        "fields": [
            field("id", "int"),
            field("flag", opt({"type": "int", "connect.type": "int16"})),
        ],
    }
    env = envelope(value, connector="mysql")
    dec = Decoder(
        resolver=DictResolver({1: env}),
        hints={"id": parse_type("int"), "flag": parse_type("bool")},
    )
    src = {
        "connector": "postgresql",
        "db": "shop",
        "ts_ms": 1,
        "snapshot": None,
        "table": "t",
        "sequence": None,
        "lsn": 10,
        "txId": 1,
    }
    rows = [1, 0, None]
    for flag in rows:
        record = {
            "before": None,
            "after": {"id": 1, "flag": flag},
            "source": src,
            "op": "c",
            "ts_ms": 1,
            "transaction": None,
        }
        after = dec.decode(None, avro_message(1, env, record), topic=TOPIC).after
        assert after["flag"] is (None if flag is None else bool(flag))
    record["after"] = {"id": 1, "flag": 5}
    with pytest.raises(DecodeError, match=r"'after\.flag' \(writer int -> declared bool\)"):
        dec.decode(None, avro_message(1, env, record), topic=TOPIC)


def test_without_declared_types_nothing_is_converted() -> None:
    assert Decoder().decode(None, json_event({"type": "int16"}, 1), topic=TOPIC).after["v"] == 1


@pytest.mark.parametrize(("writer", "declared"), sorted(CONVERTIBLE, key=str))
def test_drift_guard_accepts_every_converted_pair(writer: Kind, declared: Kind) -> None:
    want = parse_type("decimal(10,2)") if declared is Kind.DECIMAL else FieldType(declared)
    have = parse_type("decimal(10,2)") if writer is Kind.DECIMAL else FieldType(writer)
    assert type_change(want, have) is None
