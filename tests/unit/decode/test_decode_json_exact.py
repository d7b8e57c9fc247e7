"""Connect JSON: a payload without a schema is unwrapped; decimal numbers keep every digit."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from decode_helpers import connect_message

from streamapp.decode import Decoder
from streamapp.errors import DecodeError

ENVELOPE = {
    "before": None,
    "after": {"id": 1, "name": "a"},
    "source": {"version": "2.7.0.Final", "connector": "mysql", "name": "s", "ts_ms": 1},
    "op": "c",
    "ts_ms": 2,
}


def _decimal(scale: int, optional: bool = True) -> dict[str, Any]:
    return {
        "type": "bytes",
        "optional": optional,
        "name": "org.apache.kafka.connect.data.Decimal",
        "version": 1,
        "parameters": {"scale": str(scale)},
    }


def _row(*fields: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "struct",
        "optional": True,
        "name": "s.t.Value",
        "fields": [{"field": n, **t} for n, t in fields],
    }


def _envelope_schema(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "struct",
        "name": "s.t.Envelope",
        "fields": [
            {"field": "before", **row},
            {"field": "after", **row},
            {"field": "op", "type": "string"},
            {"field": "ts_ms", "type": "int64", "optional": True},
        ],
    }


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"payload": ENVELOPE}),
        json.dumps({"schema": None, "payload": ENVELOPE}),
        json.dumps({"schema": None, "payload": ENVELOPE}, separators=(",", ":")),  # fast path
    ],
    ids=["payload-only", "schema-null", "schema-null-compact"],
)
def test_schemaless_payload_wrapper_is_unwrapped(value: str) -> None:
    event = Decoder().decode(json.dumps({"payload": {"id": 1}}).encode(), value.encode())
    assert event.op.value == "c"
    assert event.after == {"id": 1, "name": "a"}
    assert event.key == {"id": 1}


def test_a_payload_wrapper_of_a_non_object_is_not_unwrapped() -> None:
    """A schemaless key whose only column is named ``payload`` stays that column."""
    event = Decoder().decode(b'{"payload": 7}', json.dumps(ENVELOPE).encode())
    assert event.key == {"payload": 7}


DIGITS = "1.23456789123456789"  # JsonConverterTest.highPrecisionNumericDecimalToConnect


@pytest.mark.parametrize("compact", [True, False], ids=["fast-path", "whole-message"])
def test_decimal_number_keeps_all_its_digits(compact: bool) -> None:
    schema = _envelope_schema(_row(("id", {"type": "int32"}), ("amount", _decimal(17))))
    text = json.dumps({"schema": schema, "payload": {**ENVELOPE, "after": {"id": 1}}})
    if compact:
        text = connect_message(schema, {**ENVELOPE, "after": {"id": 1}}).decode()
    raw = text.replace('"after":{"id":1}', '"after":{"id":1,"amount":' + DIGITS + "}")
    raw = raw.replace('"after": {"id": 1}', '"after": {"id": 1, "amount": ' + DIGITS + "}")
    assert DIGITS in raw
    decoder = Decoder()
    for _ in range(2):  # first message parses the schema, the second uses the cached plan
        event = decoder.decode(None, raw.encode())
        assert event.after is not None
        assert event.after["amount"] == Decimal(DIGITS)
        assert str(event.after["amount"]) == DIGITS


def test_float_fields_of_a_message_with_a_decimal_stay_floats() -> None:
    row = _row(
        ("amount", _decimal(2)),
        ("ratio", {"type": "double", "optional": True}),
        ("scores", {"type": "array", "optional": True, "items": {"type": "float"}}),
        ("n", {"type": "int64", "optional": True}),
    )
    after = {"amount": 12.5, "ratio": 0.1, "scores": [1.5, 2.25], "n": 3}
    event = Decoder().decode(
        None, connect_message(_envelope_schema(row), {**ENVELOPE, "after": after})
    )
    assert event.after is not None
    assert event.after["amount"] == Decimal("12.50")
    assert type(event.after["ratio"]) is float and event.after["ratio"] == 0.1
    assert [type(s) for s in event.after["scores"]] == [float, float]
    assert event.after["n"] == 3 and type(event.after["n"]) is int


def test_a_decimal_nested_in_an_array_keeps_all_its_digits() -> None:
    row = _row(("amounts", {"type": "array", "optional": True, "items": _decimal(17)}))
    raw = connect_message(_envelope_schema(row), {**ENVELOPE, "after": {"amounts": [1]}})
    raw = raw.replace(b'"amounts":[1]', b'"amounts":[' + DIGITS.encode() + b"]")
    event = Decoder().decode(None, raw)
    assert event.after == {"amounts": [Decimal(DIGITS)]}


def test_decimal_key_number_keeps_all_its_digits() -> None:
    key = connect_message(_decimal(17, optional=False), None).replace(
        b"null}", DIGITS.encode() + b"}"
    )
    event = Decoder().decode(key, None)
    assert event.key == {"key": Decimal(DIGITS)}


def test_a_decimal_number_too_long_for_its_scale_is_refused() -> None:
    """``1e999999`` quantized to scale 2 would take a million digits: refused, not computed."""
    schema = _envelope_schema(_row(("amount", _decimal(2))))
    raw = connect_message(schema, {**ENVELOPE, "after": {"amount": 1}})
    raw = raw.replace(b'"amount":1}', b'"amount":1.0e999999}')
    with pytest.raises(DecodeError, match="MAX_DECIMAL_DIGITS") as caught:
        Decoder().decode(None, raw)
    assert "999999" not in str(caught.value)
