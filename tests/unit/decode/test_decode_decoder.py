"""The Decoder end to end: format detection, caches, keys, kinds, hints and error contracts."""

from __future__ import annotations

import base64
import json
import string
from datetime import date, datetime
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
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode import Decoder, jsonfmt
from streamapp.errors import ConfigError, DecodeError, RegistryError
from streamapp.records import UNCHANGED, EventKind, Op
from streamapp.types import parse_type

VALUE = {
    "type": "record",
    "name": "Value",
    "namespace": "shop.public.orders",
    "fields": [
        field("id", "long"),
        field("note", opt("string")),
        field("day", opt({"type": "int", "connect.name": "io.debezium.time.Date"})),
    ],
}
ENV = envelope(VALUE)
KEY = {
    "type": "record",
    "name": "Key",
    "namespace": "shop.public.orders",
    "fields": [field("id", "long")],
}
TOPIC = "shop.public.orders"


def avro_decoder(**schemas: Any) -> tuple[Decoder, DictResolver]:
    resolver = DictResolver({1: ENV, 2: KEY, **{int(k[1:]): v for k, v in schemas.items()}})
    return Decoder(resolver=resolver), resolver


def event(op: str = "c", **row: Any) -> dict[str, Any]:
    after = {"id": 1, "note": "hi", "day": 19000, **row}
    return {
        "before": None,
        "after": after,
        "source": pg_source(),
        "op": op,
        "ts_ms": 1_700_000_000_500,
    }


def test_avro_event_end_to_end() -> None:
    dec, _ = avro_decoder()
    ev = dec.decode(
        avro_message(2, KEY, {"id": 1}), avro_message(1, ENV, event()), topic=TOPIC, offset=9
    )
    assert ev.kind is EventKind.DATA and ev.op is Op.CREATE
    assert ev.key == {"id": 1}
    assert ev.after == {"id": 1, "note": "hi", "day": date(2022, 1, 8)}
    assert ev.before is None
    assert ev.source is not None and ev.source.connector == "postgresql" and ev.source.lsn == 100
    assert ev.ts_ms == 1_700_000_000_500
    assert ev.version == 201


def test_schema_is_resolved_and_compiled_once_per_id() -> None:
    dec, resolver = avro_decoder()
    key = avro_message(2, KEY, {"id": 1})
    for i in range(5):
        dec.decode(key, avro_message(1, ENV, event(note=str(i))), topic=TOPIC, offset=i)
    assert resolver.calls == 2


def test_unknown_schema_id() -> None:
    dec, _ = avro_decoder()
    with pytest.raises(DecodeError, match="schema id 77 is unknown") as info:
        dec.decode(None, avro_message(77, KEY, {"id": 1}), topic=TOPIC, partition=3, offset=4)
    assert str(info.value).startswith(f"topic {TOPIC!r} partition 3 offset 4: ")


def test_registry_errors_propagate() -> None:
    class Down:
        def parsed_schema(self, schema_id: int) -> Any:
            raise RegistryError("registry unreachable")

    with pytest.raises(RegistryError):
        Decoder(resolver=Down()).decode(None, avro_message(1, ENV, event()), topic=TOPIC)


def test_avro_without_resolver() -> None:
    with pytest.raises(DecodeError, match="no schema resolver"):
        Decoder().decode(None, avro_message(1, ENV, event()), topic=TOPIC)


def test_unreadable_schema_is_reported_every_time_but_resolved_once() -> None:
    node = {"type": "record", "name": "Node", "fields": [field("next", opt("Node"))]}
    dec, resolver = avro_decoder(s5=node)
    for _ in range(2):
        with pytest.raises(DecodeError, match="recursive"):
            dec.decode(None, avro_message(5, node, {"next": None}), topic=TOPIC)
    assert resolver.calls == 1


def test_unexpected_exceptions_become_decode_errors() -> None:
    class Broken:
        def parsed_schema(self, schema_id: int) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(DecodeError, match="unexpected RuntimeError"):
        Decoder(resolver=Broken()).decode(None, avro_message(1, ENV, event()), topic=TOPIC)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (b"hello", "neither the Confluent Avro wire format"),
        (b"", "empty"),
        (b"\x00\x00", "too short"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "neither"),
        (b'{"id": 1}', "no 'op' field"),
    ],
)
def test_bad_values(value: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        Decoder().decode(None, value, topic=TOPIC, offset=1)


def test_bad_key() -> None:
    with pytest.raises(DecodeError, match=r"key\.converter"):
        Decoder().decode(
            b"id=1", json.dumps({"op": "d", "source": pg_source()}).encode(), topic=TOPIC
        )


def test_tombstone() -> None:
    dec, _ = avro_decoder()
    ev = dec.decode(avro_message(2, KEY, {"id": 1}), None, topic=TOPIC, offset=10)
    assert ev.kind is EventKind.TOMBSTONE and ev.key == {"id": 1}
    assert (ev.op, ev.before, ev.after, ev.source, ev.version) == (None, None, None, None, 0)
    assert Decoder().decode(None, None, topic=TOPIC).key is None


def test_connect_payload_null_is_a_tombstone() -> None:
    ev = Decoder().decode(b'{"id":1}', b'{"schema":{"type":"string"},"payload":null}', topic=TOPIC)
    assert ev.kind is EventKind.TOMBSTONE


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b'"abc"', {"key": "abc"}),
        (b"123", {"key": 123}),
        (b'{"schema":{"type":"int64","optional":false},"payload":5}', {"key": 5}),
        (
            b'{"schema":{"type":"struct","fields":[{"type":"int32","field":"d","name":"io.debezium.time.Date"}]},"payload":{"d":1}}',
            {"d": date(1970, 1, 2)},
        ),
        (b'{"id": 1, "when": "x"}', {"id": 1, "when": "x"}),
    ],
)
def test_json_keys(key: bytes, expected: Any) -> None:
    payload = {"op": "d", "before": None, "after": None, "source": pg_source()}
    assert Decoder().decode(key, json.dumps(payload).encode(), topic=TOPIC).key == expected


def test_primitive_avro_key() -> None:
    dec, _ = avro_decoder(s3="string")
    ev = dec.decode(avro_message(3, "string", "k-1"), avro_message(1, ENV, event()), topic=TOPIC)
    assert ev.key == {"key": "k-1"}


def test_heartbeats() -> None:
    hb_schema = {"type": "record", "name": "Heartbeat", "fields": [field("ts_ms", "long")]}
    dec, _ = avro_decoder(s4=hb_schema)
    ev = dec.decode(
        None, avro_message(4, hb_schema, {"ts_ms": 1_700_000_000_000}), topic="any", offset=5
    )
    assert ev.kind is EventKind.HEARTBEAT and ev.ts_ms == 1_700_000_000_000
    assert ev.version == (1_700_000_000_000 << 21) | 5
    on_topic = Decoder().decode(
        b'{"serverName":"db"}', b'{"ts_ms":1}', topic="__debezium-heartbeat.db"
    )
    assert on_topic.kind is EventKind.HEARTBEAT and on_topic.key == {"serverName": "db"}


CONNECT_SCHEMA = {
    "type": "struct",
    "name": "shop.public.orders.Envelope",
    "fields": [
        {
            "type": "struct",
            "optional": True,
            "field": "after",
            "name": "shop.public.orders.Value",
            "fields": [
                {"type": "int64", "field": "id"},
                {"type": "string", "optional": True, "field": "note"},
                {"type": "bytes", "optional": True, "field": "blob"},
                {
                    "type": "bytes",
                    "optional": True,
                    "field": "amount",
                    "name": "org.apache.kafka.connect.data.Decimal",
                    "parameters": {"scale": "2"},
                },
            ],
        },
        {"type": "string", "field": "op"},
        {
            "type": "struct",
            "field": "source",
            "fields": [{"type": "string", "field": "connector"}, {"type": "int64", "field": "lsn"}],
        },
    ],
}


def test_json_with_schema_and_its_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = []
    real = jsonfmt.plan_for

    def counting(schema: Any) -> jsonfmt.JsonPlan:
        compiled.append(schema)
        return real(schema)

    monkeypatch.setattr(jsonfmt, "plan_for", counting)
    dec = Decoder()
    for i in range(3):
        payload = {
            "after": {
                "id": i,
                "note": "__debezium_unavailable_value",
                "blob": "AQI=",
                "amount": "/zg=",
            },
            "op": "u",
            "source": {"connector": "postgresql", "lsn": 10 + i},
        }
        ev = dec.decode(None, connect_message(CONNECT_SCHEMA, payload), topic=TOPIC)
        assert ev.after == {
            "id": i,
            "note": UNCHANGED,
            "blob": b"\x01\x02",
            "amount": Decimal("-2.00"),
        }
    assert len(compiled) == 1


@pytest.mark.parametrize("layout", ["pretty", "payload-first"])
def test_json_other_layouts_decode_the_same(layout: str) -> None:
    payload = {
        "after": {"id": 1, "note": None, "blob": None, "amount": "AQ=="},
        "op": "c",
        "source": {"connector": "postgresql", "lsn": 10},
    }
    doc = {"schema": CONNECT_SCHEMA, "payload": payload}
    if layout == "payload-first":
        doc = {"payload": payload, "schema": CONNECT_SCHEMA}
    raw = json.dumps(doc, indent=2 if layout == "pretty" else None).encode()
    ev = Decoder().decode(None, b"  " + raw, topic=TOPIC)
    assert ev.after == {"id": 1, "note": None, "blob": None, "amount": Decimal("0.01")}


def test_schemaless_json_with_hints() -> None:
    hints = {
        "price": parse_type("decimal(10,2)"),
        "day": parse_type("date"),
        "at": parse_type("timestamp"),
        "doc": parse_type("json"),
    }
    dec = Decoder(
        hints=hints,
        handling={"decimal.handling.mode": "string", "time.precision.mode": "connect"},
    )
    payload = {
        "before": None,
        "after": {
            "id": 1,
            "price": "12.30",
            "day": 1,
            "at": 1000,
            "doc": '{"a":1}',
            "big": "__debezium_unavailable_value",
        },
        "op": "c",
        "source": pg_source(),
        "ts_ms": 1,
    }
    ev = dec.decode(b'{"id":1}', json.dumps(payload).encode(), topic=TOPIC)
    assert ev.after == {
        "id": 1,
        "price": Decimal("12.30"),
        "day": date(1970, 1, 2),
        "at": datetime(1970, 1, 1, 0, 0, 1),
        "doc": {"a": 1},
        "big": UNCHANGED,
    }


def test_invalid_modes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"decimal\.handling\.mode='exact' is not one of"):
        Decoder(handling={"decimal.handling.mode": "exact"})
    with pytest.raises(ConfigError, match=r"'time\.precision' is not a handling mode"):
        Decoder(handling={"time.precision": "connect"})


# "Qz7" never occurs in an error message, so a match can only be the value leaking (without it
# hypothesis finds e.g. "partitio", which every message contains as part of "partition").
SECRETS = st.text(string.ascii_letters + string.digits, min_size=5, max_size=13).map(
    lambda s: "Qz7" + s
)


@given(SECRETS)
def test_errors_never_contain_values(secret: str) -> None:
    """A value that fails conversion is named by field and type only (it may be PII)."""
    dec = Decoder(hints={"ssn": parse_type("int"), "born": parse_type("date")})
    for row in ({"ssn": secret}, {"born": secret + "-not-a-date"}):
        payload = {"op": "c", "after": row, "source": pg_source()}
        with pytest.raises(DecodeError) as info:
            dec.decode(None, json.dumps(payload).encode(), topic=TOPIC)
        assert secret not in str(info.value)
        assert info.value.field in ("ssn", "born")
    bad_amount = base64.b64encode(secret.encode()).decode() + "!"
    payload = {
        "after": {"id": 1, "note": secret, "blob": None, "amount": bad_amount},
        "op": "c",
        "source": {"connector": "postgresql", "lsn": 1},
    }
    with pytest.raises(DecodeError) as info:
        Decoder().decode(None, connect_message(CONNECT_SCHEMA, payload), topic=TOPIC)
    assert secret not in str(info.value) and bad_amount not in str(info.value)
    assert "amount" in str(info.value) and "Decimal" in str(info.value)


MONGO_SCHEMA = {
    "type": "struct",
    "fields": [
        {"type": "string", "optional": True, "name": "io.debezium.data.Json", "field": "before"},
        {"type": "string", "optional": True, "name": "io.debezium.data.Json", "field": "after"},
        {"type": "string", "field": "op"},
        {
            "type": "struct",
            "field": "source",
            "fields": [
                {"type": "string", "field": "connector"},
                {"type": "int64", "field": "ts_ms"},
                {"type": "int32", "field": "ord"},
                {"type": "string", "field": "collection"},
            ],
        },
    ],
}


def test_mongo_events_and_tombstone_keys() -> None:
    dec = Decoder(hints={"n": parse_type("decimal(5,1)")})
    key = json.dumps({"id": '{"$oid": "5d505646cf6d4fe581014ab2"}'}).encode()
    payload = {
        "before": None,
        "after": json.dumps(
            {"_id": {"$oid": "5d505646cf6d4fe581014ab2"}, "n": {"$numberDecimal": "1.5"}, "s": "{}"}
        ),
        "op": "c",
        "source": {"connector": "mongodb", "ts_ms": 1_000_000, "ord": 3, "collection": "c"},
    }
    ev = dec.decode(key, connect_message(MONGO_SCHEMA, payload), topic="m.db.c")
    assert ev.key == {"id": "5d505646cf6d4fe581014ab2"}
    assert ev.after == {"_id": "5d505646cf6d4fe581014ab2", "n": Decimal("1.5"), "s": "{}"}
    assert ev.version == (1000 << 31) | 3 and ev.source is not None and ev.source.table == "c"
    int_key = json.dumps({"id": "1004"}).encode()
    assert dec.decode(int_key, None, topic="m.db.c").key == {"id": 1004}  # known MongoDB topic
    assert Decoder().decode(int_key, None, topic="m.db.c").key == {"id": "1004"}  # unknown topic


def test_key_conversion_errors_name_the_key_field() -> None:
    dec = Decoder(hints={"id": parse_type("int")})
    value = json.dumps({"op": "d", "source": pg_source()}).encode()
    with pytest.raises(DecodeError, match=r"key\.id") as info:
        dec.decode(b'{"id": "x"}', value, topic=TOPIC)
    assert info.value.field == "id"


def test_schemaless_mongo_update_without_full_document() -> None:
    payload = {
        "after": None,
        "updateDescription": {"updatedFields": '{"n": {"$numberInt": "2"}}', "removedFields": []},
        "op": "u",
        "source": {"connector": "mongodb", "ts_ms": 5000, "ord": 1},
    }
    key = json.dumps({"id": '{"$oid": "5d505646cf6d4fe581014ab2"}'}).encode()
    ev = Decoder().decode(key, json.dumps(payload).encode(), topic="m.db.c")
    assert ev.after == {"n": 2, "_id": "5d505646cf6d4fe581014ab2"}


def test_any_value_on_a_heartbeat_topic_is_a_heartbeat() -> None:
    ev = Decoder().decode(
        None, b'{"schema":{"type":"string"},"payload":"x"}', topic="__debezium-heartbeat.s"
    )
    assert ev.kind is EventKind.HEARTBEAT and ev.source is None
