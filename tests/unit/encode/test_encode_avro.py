"""RecordEncoder: bytes identical to fastavro's, round trips, deletes, unchanged columns, errors."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from encode_strategies import columns, values
from hypothesis import given
from hypothesis import strategies as st

from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import avro_schema_for, key_schema_for
from streamapp.errors import ConfigError, DecodeError, EncodeError
from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.types import FieldType, Kind, parse_type
from streamapp.wire import unframe

NS = "streamapp.out"
SECRET = "s3cr3t-Value"


def encoder_for(cols: dict[str, FieldType], keys: tuple[str, ...] = ()) -> RecordEncoder:
    value = avro_schema_for(cols, name="orders", namespace=NS, key_columns=keys)
    key = key_schema_for(cols, name="orders_key", namespace=NS, key_columns=keys) if keys else None
    return RecordEncoder(value, key, value_schema_id=7, key_schema_id=8 if keys else None)


def record(
    value: dict[str, Any],
    key: tuple[Any, ...] = (),
    *,
    deleted: bool = False,
    unchanged: frozenset[str] = frozenset(),
) -> OutputRecord:
    op = Op.DELETE if deleted else Op.UPDATE
    return OutputRecord("orders", key, value, 1, op, deleted, unchanged, None)


def fastavro_body(schema: dict[str, Any], datum: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), datum)
    return out.getvalue()


def columns_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("__deleted", "__unchanged")}


# Kinds fastavro alone does not read back as their streamapp value (RecordEncoder fixes them up).
NOT_READ_AS_IS = {Kind.JSON, Kind.DURATION, Kind.RECORD, Kind.ARRAY, Kind.MAP}
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
TS = datetime(2024, 5, 1, 12, 30, 15, 123456)


@pytest.mark.parametrize(
    ("spec", "value", "fastavro_value"),
    [
        ("string", "héllo ✓", "héllo ✓"),
        ("string", "", ""),
        ("int", 0, 0),
        ("int", -1, -1),
        ("int", 8191, 8191),
        ("int", 8192, 8192),
        ("int", -8193, -8193),
        ("int", 2**27, 2**27),
        ("int", 2**31, 2**31),
        ("int", 2**63 - 1, 2**63 - 1),
        ("int", -(2**63), -(2**63)),
        ("float", 1.5, 1.5),
        ("float", float("inf"), float("inf")),
        ("bool", True, True),
        ("bool", False, False),
        ("bytes", b"\x00\xff", b"\x00\xff"),
        ("decimal(12,2)", Decimal("1234.50"), Decimal("1234.50")),
        ("decimal(12,2)", Decimal("-0.01"), Decimal("-0.01")),
        ("decimal(12,2)", Decimal("-1.28"), Decimal("-1.28")),
        ("decimal(12,2)", Decimal("12.345"), Decimal("12.35")),  # rounded half up
        ("decimal(12,2)", Decimal("-12.345"), Decimal("-12.35")),
        ("decimal(12,2)", Decimal("7"), Decimal("7.00")),
        ("decimal(38,0)", Decimal(10**37), Decimal(10**37)),
        ("date", date(2024, 2, 29), date(2024, 2, 29)),
        ("date", date(1, 1, 1), date(1, 1, 1)),
        ("time", time(23, 59, 59, 999999), time(23, 59, 59, 999999)),
        ("timestamp", TS, TS.replace(tzinfo=UTC)),  # local-timestamp: wall clock as if UTC
        ("timestamptz", TS.replace(tzinfo=UTC), TS.replace(tzinfo=UTC)),
        ("timestamptz", TS.replace(tzinfo=timezone(timedelta(hours=2))), TS.replace(hour=10,
                                                                                     tzinfo=UTC)),
        ("timestamptz", datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
         datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("duration", timedelta(days=-1, microseconds=5), -86_400_000_000 + 5),
        ("uuid", UID, UID),
        ("json", {"b": [1, 2.5, None], "a": "ü"}, '{"a":"ü","b":[1,2.5,null]}'),
        ("json", "text", '"text"'),
        ("array<int>", [1, None, 300], [1, None, 300]),
        ("array<string>", [], []),
        ("map<decimal(4,1)>", {"a": Decimal("1.5"), "b": None}, {"a": Decimal("1.5"), "b": None}),
        ({"city": "string", "geo": {"lat": "float"}}, {"city": "X", "geo": {"lat": 1.0}},
         {"city": "X", "geo": {"lat": 1.0}}),
        ({"city": "string"}, {}, {"city": None}),
        ("int", None, None),
    ],
)  # fmt: skip
def test_bytes_equal_fastavro(spec: Any, value: Any, fastavro_value: Any) -> None:
    cols = {"id": parse_type("int"), "c": parse_type(spec)}
    enc = encoder_for(cols, ("id",))
    data = enc.encode_value(record({"id": 1, "c": value}, (1,)))
    assert data is not None
    schema_id, body = unframe(data)
    assert schema_id == 7
    expected = fastavro_body(
        avro_schema_for(cols, name="orders", namespace=NS, key_columns=("id",)),
        {"id": 1, "c": fastavro_value, "__deleted": False, "__unchanged": []},
    )
    assert bytes(body) == expected


@given(st.data(), columns())
def test_decode_of_encode_is_identity(data: st.DataObject, cols: dict[str, FieldType]) -> None:
    keys = tuple(c for c, t in cols.items() if t.kind not in NOT_READ_AS_IS)[:2]
    enc = encoder_for(cols, keys)
    row = {c: data.draw(values(t, nullable=c not in keys), label=c) for c, t in cols.items()}
    key = tuple(row[k] for k in keys)
    encoded = enc.encode_value(record(row, key))
    assert encoded is not None
    decoded = enc.decode_value(encoded)
    assert decoded.pop("__deleted") is False
    assert decoded.pop("__unchanged") == []
    assert decoded == row
    if keys:  # fastavro reads the key back to the same values
        key_schema = key_schema_for(cols, name="k", namespace=NS, key_columns=keys)
        body = bytes(unframe(enc.encode_key(record(row, key)))[1])
        got = fastavro.schemaless_reader(io.BytesIO(body), key_schema)
        assert isinstance(got, dict)
        assert tuple(got[k] for k in keys) == key


@given(st.data())
def test_unchanged_columns_round_trip_as_unchanged(data: st.DataObject) -> None:
    cols = {"id": parse_type("int"), "a": parse_type("string"), "b": parse_type("json")}
    enc = encoder_for(cols, ("id",))
    unchanged = data.draw(st.sets(st.sampled_from(["a", "b"])))
    row = {"id": 1, "a": "x", "b": {"k": 1}} | {c: UNCHANGED for c in unchanged}
    encoded = enc.encode_value(record(row, (1,), unchanged=frozenset(unchanged)))
    assert encoded is not None
    decoded = enc.decode_value(encoded)
    assert decoded.pop("__unchanged") == sorted(unchanged)
    assert columns_of(decoded) == row


def test_missing_columns_encode_as_null() -> None:
    enc = encoder_for({"id": parse_type("int"), "a": parse_type("string")}, ("id",))
    encoded = enc.encode_value(record({"id": 3}, (3,)))
    assert encoded is not None
    assert columns_of(enc.decode_value(encoded)) == {"id": 3, "a": None}


def test_delete_is_a_rewritten_row_then_a_tombstone() -> None:
    enc = encoder_for({"id": parse_type("int"), "a": parse_type("string")}, ("id",))
    rec = record({"id": 3}, (3,), deleted=True)
    messages = enc.messages(rec)
    assert [m[0] for m in messages] == [enc.encode_key(rec)] * 2
    row_bytes, tombstone = messages[0][1], messages[1][1]
    assert tombstone is None
    assert row_bytes is not None
    row = enc.decode_value(row_bytes)
    assert row == {"id": 3, "a": None, "__deleted": True, "__unchanged": []}


def test_update_is_one_message() -> None:
    enc = encoder_for({"id": parse_type("int")}, ("id",))
    rec = record({"id": 3}, (3,))
    assert enc.messages(rec) == [(enc.encode_key(rec), enc.encode_value(rec))]


def _custom(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": "o", "fields": fields}


def test_schema_without_deleted_field_encodes_a_delete_as_tombstone_only() -> None:
    value = _custom([{"name": "id", "type": "long"}])
    enc = RecordEncoder(value, _custom([{"name": "id", "type": "long"}]),
                        value_schema_id=1, key_schema_id=2)  # fmt: skip
    rec = record({"id": 1}, (1,), deleted=True)
    assert enc.encode_value(rec) is None
    assert enc.messages(rec) == [(enc.encode_key(rec), None)]


def test_without_key_schema_a_delete_is_the_rewritten_row_only() -> None:
    enc = encoder_for({"a": parse_type("string")})
    messages = enc.messages(record({"a": "x"}, deleted=True))
    assert len(messages) == 1
    assert messages[0][0] is None
    assert messages[0][1] is not None
    assert enc.decode_value(messages[0][1])["__deleted"] is True
    with pytest.raises(EncodeError, match="has no key schema"):
        enc.encode_key(record({"a": "x"}))


def test_a_delete_that_cannot_be_represented_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="neither a key schema nor"):
        RecordEncoder(_custom([{"name": "a", "type": "long"}]), None,
                      value_schema_id=1, key_schema_id=None)  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ([{"name": "__deleted", "type": "string"}], "'__deleted' must have type 'boolean'"),
        ([{"name": "__unchanged", "type": "string"}], "'__unchanged' must have type"),
    ],
)
def test_bookkeeping_fields_must_have_their_types(
    fields: list[dict[str, Any]], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        RecordEncoder(_custom(fields), _custom([]), value_schema_id=1, key_schema_id=2)


def test_key_schema_needs_an_id() -> None:
    with pytest.raises(ConfigError, match="key_schema_id"):
        RecordEncoder(_custom([]), _custom([]), value_schema_id=1, key_schema_id=None)


def test_union_with_null_second_and_non_null_nested_items() -> None:
    value = _custom([
        {"name": "a", "type": ["long", "null"], "default": 0},
        {"name": "b", "type": {"type": "array", "items": "string"}},
        {"name": "__deleted", "type": "boolean", "default": False},
    ])  # fmt: skip
    enc = RecordEncoder(value, None, value_schema_id=1, key_schema_id=None)
    rows: list[dict[str, Any]] = [{"a": 5, "b": ["x"]}, {"a": None, "b": []}]
    for row in rows:
        data = enc.encode_value(record(row))
        assert data is not None
        assert bytes(unframe(data)[1]) == fastavro_body(value, {**row, "__deleted": False})
        assert columns_of(enc.decode_value(data)) == row


def test_unchanged_without_unchanged_field_is_an_encode_error() -> None:
    value = _custom([{"name": "a", "type": ["null", "string"]},
                     {"name": "__deleted", "type": "boolean"}])  # fmt: skip
    enc = RecordEncoder(value, None, value_schema_id=1, key_schema_id=None)
    with pytest.raises(EncodeError, match="no '__unchanged' field"):
        enc.encode_value(record({"a": UNCHANGED}, unchanged=frozenset({"a"})))


@pytest.mark.parametrize(
    ("spec", "value", "needle"),
    [
        ("int", SECRET, "field 'c': a value of Python type str does not fit output type int, "
                        "which takes int"),
        ("int", 2**63, "value of Python type int is outside the 64-bit signed range"),
        ("int", -(2**63) - 1, "outside the 64-bit signed range"),
        ("float", SECRET, "output type float, which takes float"),
        ("bool", SECRET, "output type bool, which takes bool"),
        ("string", 12, "Python type int does not fit output type string"),
        ("bytes", SECRET, "output type bytes, which takes bytes"),
        ("decimal(5,2)", Decimal("1234.5"), "needs more than 5 digits at scale 2"),
        # refused by its exponent before int(): int() of it would take hours (quadratic)
        ("decimal(10,2)", Decimal("1E+40000000"), "needs more than 10 digits at scale 2"),
        ("decimal(10,2)", Decimal("-9.9E+999999999"), "needs more than 10 digits at scale 2"),
        ("decimal(5,2)", Decimal("NaN"), "Decimal is not finite"),
        ("decimal(5,2)", Decimal("-Infinity"), "Decimal is not finite"),
        ("decimal(5,2)", 1.5, "float does not fit output type decimal(5,2), which takes Decimal"),
        ("date", datetime(2024, 1, 1), "datetime does not fit output type date"),
        ("time", SECRET, "output type time, which takes time"),
        ("timestamp", datetime(2024, 1, 1, tzinfo=UTC), "which takes naive datetime"),
        ("timestamptz", datetime(2024, 1, 1), "which takes aware datetime"),
        ("timestamptz", date(2024, 1, 1), "type date does not fit output type timestamptz"),
        ("duration", 5, "which takes timedelta"),
        ("uuid", SECRET, "which takes UUID"),
        ("json", {SECRET: float("nan")}, "which takes JSON-serialisable value"),
        ("json", {SECRET: object()}, "which takes JSON-serialisable value"),
        ("array<int>", SECRET, "which takes list"),
        ("array<int>", [1, SECRET], "type list does not fit output type array<int>"),
        ("map<int>", {1: 2}, "which takes dict with str keys"),
        ({"a": "int"}, SECRET, "which takes dict"),
        ("string", UNCHANGED, "holds UNCHANGED but is not in the record's unchanged set"),
    ],
)  # fmt: skip
def test_values_that_do_not_fit_name_the_field_never_the_value(
    spec: Any, value: Any, needle: str
) -> None:
    enc = encoder_for({"id": parse_type("int"), "c": parse_type(spec)}, ("id",))
    with pytest.raises(EncodeError) as info:
        enc.encode_value(record({"id": 1, "c": value}, (1,)))
    message = str(info.value)
    assert needle in message
    assert info.value.field == "c"
    assert SECRET not in message
    assert "\n" not in message


def test_null_key_column_is_an_encode_error() -> None:
    enc = encoder_for({"id": parse_type("int")}, ("id",))
    with pytest.raises(
        EncodeError, match="'id' is null but the output schema declares it non-null"
    ):
        enc.encode_value(record({"id": None}, (None,)))
    with pytest.raises(EncodeError, match="'id' is null") as info:
        enc.encode_key(record({"id": None}, (None,)))
    assert info.value.field == "id"


def test_key_arity_mismatch() -> None:
    enc = encoder_for({"id": parse_type("int")}, ("id",))
    with pytest.raises(EncodeError, match="record key has 2 values, the key schema 1 fields"):
        enc.encode_key(record({"id": 1}, (1, 2)))


def test_decode_value_checks_the_schema_id() -> None:
    enc = encoder_for({"id": parse_type("int")}, ("id",))
    data = enc.encode_value(record({"id": 1}, (1,)))
    assert data is not None
    with pytest.raises(DecodeError, match="schema id 9"):
        enc.decode_value(b"\x00\x00\x00\x00\x09" + data[5:])


def test_json_is_canonical_text() -> None:
    enc = encoder_for({"j": parse_type("json")})
    data = enc.encode_value(record({"j": {"b": 1, "a": [1, {"d": 2, "c": 3}]}}))
    assert data is not None
    assert b'{"a":[1,{"c":3,"d":2}],"b":1}' in data
