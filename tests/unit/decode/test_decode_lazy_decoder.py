"""needs_before=False end to end: the same events, before None for c/u/r, in every format."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from avro_gen import Branch, encode, rows
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

from streamapp.decode import Decoder
from streamapp.errors import DecodeError
from streamapp.records import UNCHANGED, ChangeEvent, Op
from streamapp.wire import frame

VALUE = {
    "type": "record",
    "name": "Value",
    "namespace": "db.public.t",
    "fields": [field("id", "long")],
}
KEY = {"type": "record", "name": "Key", "fields": [field("id", "long")]}


def _decoders(schema: Any) -> tuple[Decoder, Decoder]:
    return (
        Decoder(resolver=DictResolver({1: schema, 2: KEY})),
        Decoder(resolver=DictResolver({1: schema, 2: KEY}), needs_before=False),
    )


def _same_except_before(lazy: ChangeEvent, eager: ChangeEvent) -> None:
    if eager.op is Op.DELETE:
        assert lazy == eager
    else:
        assert lazy == eager._replace(before=None)


@given(rows(semantic=True), st.data(), st.sampled_from(["c", "u", "d", "r"]), st.randoms())
def test_decoder_without_before_gives_the_same_event(
    row: tuple[Any, Any], data: st.DataObject, op: str, rnd: random.Random
) -> None:
    """Same event without the before-image, except ``before`` None for c/u/r; same for d."""
    schema, values = row
    env = envelope(schema)
    before, after = data.draw(st.none() | values), data.draw(values)
    source = pg_source(lsn=data.draw(st.integers(0, 2**40)))
    value = {
        "before": Branch(0, None) if before is None else Branch(1, before),
        "after": Branch(1, after),
        "source": _tag_source(source),
        "op": op,
        "ts_ms": Branch(1, 1_700_000_000_000),
    }
    message = frame(1, encode(env, value, rnd))
    key = avro_message(2, KEY, {"id": 5})
    eager_dec, lazy_dec = _decoders(env)
    eager = eager_dec.decode(key, message, topic="db.public.t", offset=3)
    lazy = lazy_dec.decode(key, message, topic="db.public.t", offset=3)
    _same_except_before(lazy, eager)
    assert (eager.before is None) == (before is None)  # the eager side did read a before


def _tag_source(source: dict[str, Any]) -> dict[str, Any]:
    optional = ("snapshot", "table", "sequence", "lsn", "txId")
    return {
        k: (Branch(0 if v is None else 1, v) if k in optional else v) for k, v in source.items()
    }


def test_decoder_default_needs_the_before_image() -> None:
    env = envelope(VALUE)
    record = {"before": {"id": 1}, "after": {"id": 2}, "source": pg_source(), "op": "u"}
    eager, lazy = _decoders(env)
    message = avro_message(1, env, {**record, "ts_ms": None})
    assert eager.decode(None, message, topic="t").before == {"id": 1}
    assert lazy.decode(None, message, topic="t").before is None
    delete = avro_message(1, env, {**record, "after": None, "op": "d", "ts_ms": None})
    assert lazy.decode(None, delete, topic="t").before == {"id": 1}


BAD = {
    "type": "record",
    "name": "V",
    "namespace": "db.public.t",
    "fields": [
        field("id", "long"),
        field("doc", {"type": "string", "connect.name": "io.debezium.data.Json"}),
    ],
}


@pytest.mark.parametrize(("op", "fails"), [("u", False), ("c", False), ("d", True)])
def test_conversion_errors_in_a_skipped_before_are_not_raised(op: str, fails: bool) -> None:
    env = envelope(BAD)
    record = {
        "before": {"id": 1, "doc": '{"broken'},
        "after": None if op == "d" else {"id": 1, "doc": "{}"},
        "source": pg_source(),
        "op": op,
        "ts_ms": None,
    }
    dec = Decoder(resolver=DictResolver({1: env}), needs_before=False)
    message = avro_message(1, env, record)
    if fails:
        with pytest.raises(DecodeError, match=r"before\.doc") as info:
            dec.decode(None, message, topic="t")
        assert info.value.field == "before.doc" and "broken" not in str(info.value)
    else:
        assert dec.decode(None, message, topic="t").before is None
    with pytest.raises(DecodeError, match=r"before\.doc"):
        Decoder(resolver=DictResolver({1: env})).decode(None, message, topic="t")


CONNECT_ROW = {
    "type": "struct",
    "optional": True,
    "fields": [
        {"field": "id", "type": "int64"},
        {"field": "day", "type": "int32", "optional": True, "name": "io.debezium.time.Date"},
    ],
}
CONNECT_ENV = {
    "type": "struct",
    "fields": [
        {**CONNECT_ROW, "field": "before"},
        {**CONNECT_ROW, "field": "after"},
        {"field": "op", "type": "string"},
        {
            "field": "source",
            "type": "struct",
            "fields": [{"field": "connector", "type": "string"}, {"field": "lsn", "type": "int64"}],
        },
    ],
}
MONGO_ENV = {
    "type": "struct",
    "fields": [
        {"field": "before", "type": "string", "optional": True},
        {"field": "after", "type": "string", "optional": True},
        {"field": "op", "type": "string"},
    ],
}


def _json_payload(fmt: str, op: str) -> bytes:
    if fmt == "mongo":
        doc = json.dumps({"_id": 1, "n": {"$numberLong": "2"}})
        payload: dict[str, Any] = {
            "before": doc,
            "after": None if op == "d" else doc,
            "op": op,
            "source": {"connector": "mongodb", "ts_ms": 5000, "ord": 1},
        }
        return connect_message(MONGO_ENV, payload)
    row = {"id": 1, "day": 19000}
    payload = {
        "before": row,
        "after": None if op == "d" else row,
        "op": op,
        "source": {"connector": "postgresql", "lsn": 10},
    }
    if fmt == "connect":
        return connect_message(CONNECT_ENV, payload)
    return json.dumps(payload).encode()


@pytest.mark.parametrize("fmt", ["connect", "schemaless", "mongo"])
@pytest.mark.parametrize("op", ["c", "u", "r", "d"])
def test_json_and_mongo_events_follow_needs_before(fmt: str, op: str) -> None:
    message = _json_payload(fmt, op)
    eager = Decoder().decode(None, message, topic="db.t")
    lazy = Decoder(needs_before=False).decode(None, message, topic="db.t")
    assert eager.before is not None
    _same_except_before(lazy, eager)


def test_placeholder_in_a_lazy_delete_before_is_unchanged() -> None:
    row = {
        "type": "record",
        "name": "V",
        "namespace": "db.public.t",
        "fields": [field("id", "long"), field("note", opt("string"))],
    }
    env = envelope(row)
    record = {
        "before": {"id": 1, "note": "__debezium_unavailable_value"},
        "after": None,
        "source": pg_source(),
        "op": "d",
        "ts_ms": None,
    }
    dec = Decoder(resolver=DictResolver({1: env}), needs_before=False)
    ev = dec.decode(None, avro_message(1, env, record), topic="t")
    assert ev.before == {"id": 1, "note": UNCHANGED}


MONGO_AVRO = {
    "type": "record",
    "name": "Envelope",
    "namespace": "m.db.c",
    "fields": [
        field("before", opt({"type": "string", "connect.name": "io.debezium.data.Json"})),
        field("after", opt({"type": "string", "connect.name": "io.debezium.data.Json"})),
        field(
            "source",
            {
                "type": "record",
                "name": "Source",
                "fields": [
                    field("connector", "string"),
                    field("ts_ms", "long"),
                    field("ord", "int"),
                    field("collection", "string"),
                ],
            },
        ),
        field("op", "string"),
    ],
}


@pytest.mark.parametrize("op", ["c", "u", "r", "d"])
def test_avro_mongo_documents_follow_needs_before(op: str) -> None:
    doc = json.dumps({"_id": {"$oid": "5d505646cf6d4fe581014ab2"}, "n": {"$numberLong": "7"}})
    record = {
        "before": doc,
        "after": None if op == "d" else doc,
        "source": {"connector": "mongodb", "ts_ms": 5000, "ord": 1, "collection": "c"},
        "op": op,
    }
    message = avro_message(4, MONGO_AVRO, record)
    eager = Decoder(resolver=DictResolver({4: MONGO_AVRO})).decode(None, message, topic="m.db.c")
    lazy_decoder = Decoder(resolver=DictResolver({4: MONGO_AVRO}), needs_before=False)
    lazy = lazy_decoder.decode(None, message, topic="m.db.c")
    assert eager.before == {"_id": "5d505646cf6d4fe581014ab2", "n": 7}
    _same_except_before(lazy, eager)
