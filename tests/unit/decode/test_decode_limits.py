"""Per-message budgets on decimal digits and JSON nesting: refused before the costly work, with
a DecodeError that names the field and the limit (never "unexpected ... report it")."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from decode_helpers import (
    DictResolver,
    avro_message,
    connect_message,
    envelope,
    field,
    opt,
    pg_source,
)

from streamapp.decode import Decoder, jsonfmt, mongo, semantic
from streamapp.decode.limits import (
    MAX_DECIMAL_BYTES,
    MAX_JSON_DEPTH,
    LimitExceeded,
    check_json_depth,
)
from streamapp.errors import DecodeError

TOPIC = "shop.public.t"
BIG = b"\x7f" + b"\xff" * 399_999  # 400 KB of unscaled decimal: ~963,000 digits
DEC = {"type": "bytes", "logicalType": "decimal", "precision": 1000, "scale": 2}
DEC["connect.name"] = "org.apache.kafka.connect.data.Decimal"
DEC["connect.parameters"] = {"scale": "2"}  # type: ignore[assignment]
JSON_COL = {"type": "string", "connect.name": "io.debezium.data.Json"}
VALUE = {
    "type": "record",
    "name": "Value",
    "namespace": "shop.public.t",
    "fields": [field("id", "long"), field("amount", opt(DEC)), field("doc", opt(JSON_COL))],
}
ENV = envelope(VALUE)


class Counting:
    """Wraps a callable and counts its calls."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def avro_event(**after: Any) -> bytes:
    row = {"id": 1, "amount": None, "doc": None, **after}
    event = {"before": None, "after": row, "source": pg_source(), "op": "c", "ts_ms": 1}
    return avro_message(1, ENV, event)


def decode(value: bytes, decoder: Decoder | None = None) -> Any:
    dec = decoder or Decoder(resolver=DictResolver({1: ENV}))
    return dec.decode(None, value, topic=TOPIC, partition=2, offset=5)


# -- decimals -------------------------------------------------------------------------------


def test_the_longest_decimal_within_the_limit_converts_exactly() -> None:
    top = 10**1000 - 1  # 1,000 digits
    raw = top.to_bytes(MAX_DECIMAL_BYTES, "big", signed=True)
    assert semantic.decimal_from_bytes(raw, 0) == Decimal(top)
    low = (-top).to_bytes(MAX_DECIMAL_BYTES, "big", signed=True)
    assert semantic.decimal_from_bytes(low, 2) == Decimal(f"-{top}E-2")
    assert semantic.decimal_from_unscaled(top, 0) == Decimal(top)
    assert semantic.decimal_from_number(top) == Decimal(top)


@pytest.mark.parametrize(
    "convert",
    [
        lambda: semantic.decimal_from_bytes(BIG, 2),
        lambda: semantic.decimal_from_bytes(b"\x01" * (MAX_DECIMAL_BYTES + 1), 0),
        lambda: semantic.decimal_from_unscaled(int.from_bytes(BIG, "big"), 2),
        lambda: semantic.decimal_from_number(int.from_bytes(b"\x01" * 500, "big")),
    ],
)
def test_a_longer_decimal_is_refused_before_converting(
    convert: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_decimal = Counting(Decimal)
    monkeypatch.setattr(semantic, "Decimal", to_decimal)
    with pytest.raises(LimitExceeded, match=r"over the limit of 416 bytes \(1,000 digits"):
        convert()
    assert to_decimal.calls == 0


@pytest.mark.parametrize("native", ["1", "0"])
def test_a_400kb_avro_decimal_is_a_decode_error_naming_field_and_limit(
    native: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_bytes = Counting(int.from_bytes)
    monkeypatch.setitem(semantic.INLINE_NAMESPACE, "_ib", from_bytes)  # the generated reader's
    if native == "0":
        monkeypatch.setattr("streamapp.decode.avroflat.NATIVE", None)
    with pytest.raises(DecodeError) as info:
        decode(avro_event(amount=BIG))
    message = str(info.value)
    assert message.startswith(f"topic {TOPIC!r} partition 2 offset 5: cannot read field ")
    assert "'after.amount'" in message and "400,000 bytes is over the limit of 416 bytes" in message
    assert info.value.field == "after.amount"
    assert from_bytes.calls == 0  # refused on the length, never converted
    ok = decode(avro_event(amount=(10**999).to_bytes(416, "big", signed=True)))
    assert ok.after["amount"] == Decimal(f"{10**999}E-2")


def test_a_400kb_json_decimal_is_a_decode_error_naming_field_and_limit() -> None:
    schema = {
        "type": "struct",
        "fields": [
            {"field": "op", "type": "string"},
            {
                "field": "after",
                "type": "struct",
                "optional": True,
                "fields": [
                    {"field": "id", "type": "int64"},
                    {
                        "field": "amount",
                        "type": "bytes",
                        "name": "org.apache.kafka.connect.data.Decimal",
                        "parameters": {"scale": "2"},
                    },
                ],
            },
        ],
    }
    payload = {"op": "c", "after": {"id": 1, "amount": base64.b64encode(BIG).decode()}}
    with pytest.raises(DecodeError, match=r"field 'after\.amount'.*over the limit of 416 bytes"):
        decode(connect_message(schema, payload), Decoder())


# -- JSON nesting ---------------------------------------------------------------------------


def test_check_json_depth_boundary() -> None:
    check_json_depth(nested(MAX_JSON_DEPTH))
    check_json_depth(nested(MAX_JSON_DEPTH).encode())
    check_json_depth(json.dumps({"s": "[" * 5000, "a": [[1]] * 500}))  # brackets in strings
    with pytest.raises(LimitExceeded, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        check_json_depth(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(LimitExceeded, match=r"at 'a\.b'"):
        check_json_depth('{"x": [1, {"y": 2}], "a": {"b": ' + nested(200) + "}}")


def schemaless(after: str) -> bytes:
    return ('{"before": null, "after": ' + after + ', "op": "c"}').encode()


def test_a_deeply_nested_json_message_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads = Counting(json.loads)
    monkeypatch.setattr(jsonfmt.json, "loads", loads)
    for depth in (MAX_JSON_DEPTH + 10, 100_000):
        message = schemaless('{"id": 1, "doc": ' + nested(depth) + "}")
        with pytest.raises(DecodeError) as info:
            decode(message, Decoder())
        text = str(info.value)
        assert "unexpected" not in text
        assert f"nests deeper than {MAX_JSON_DEPTH} levels at 'after.doc'" in text
        assert "MAX_JSON_DEPTH" in text
    assert loads.calls == 0
    assert decode(schemaless('{"id": 1, "doc": ' + nested(50) + "}"), Decoder()).after["id"] == 1


def test_a_deep_connect_payload_and_a_deep_key_are_refused() -> None:
    schema = {"type": "struct", "fields": [{"field": "op", "type": "string"}]}
    deep = b'"payload":' + nested(5000).encode()
    value = connect_message(schema, None).replace(b'"payload":null', deep)
    with pytest.raises(DecodeError, match="the value payload's JSON nests deeper than 128"):
        decode(value, Decoder())
    with pytest.raises(DecodeError, match="the key's JSON nests deeper than 128 levels at 'id'"):
        Decoder().decode(('{"id": ' + nested(5000) + "}").encode(), None, topic=TOPIC)


def test_a_deeply_nested_json_column_is_a_decode_error_naming_the_field() -> None:
    with pytest.raises(DecodeError) as info:
        decode(avro_event(doc=nested(20_000)))
    assert "'after.doc'" in str(info.value) and "MAX_JSON_DEPTH" in str(info.value)
    assert decode(avro_event(doc=nested(100))).after["doc"] == json.loads(nested(100))


def test_a_deeply_nested_mongodb_document_is_a_decode_error() -> None:
    with pytest.raises(LimitExceeded, match="MAX_JSON_DEPTH"):
        mongo.parse_document('{"_id": 1, "a": ' + nested(20_000) + "}")
    with pytest.raises(DecodeError, match=r"MongoDB field 'after'.*MAX_JSON_DEPTH"):
        mongo.rows({"op": "c", "after": '{"a": ' + nested(20_000) + "}"}, None, {})
