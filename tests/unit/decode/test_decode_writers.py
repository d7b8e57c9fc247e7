"""Writer-schema resolution: unknown and unusable ids are cached DecodeErrors, outages propagate,
and ``prefetch`` resolves a batch's ids in one worker thread so ``decode`` never asks again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import fastavro
import pytest
from decode_helpers import avro_message, envelope, field, opt, pg_source

from streamapp.decode import Decoder
from streamapp.decode.writers import UNKNOWN_TTL
from streamapp.errors import (
    DecodeError,
    RegistryError,
    RegistryUnavailableError,
    UnusableSchemaError,
)

VALUE = {
    "type": "record",
    "name": "Value",
    "namespace": "shop.public.t",
    "fields": [field("id", "long"), field("note", opt("string"))],
}
ENV = envelope(VALUE)
KEY = {"type": "record", "name": "Key", "namespace": "ns", "fields": [field("id", "long")]}
TOPIC = "shop.public.t"


class Resolver:
    """Known ids resolve; ``fail`` maps an id to the exception to raise; records every call
    with the thread it ran in."""

    def __init__(self, fail: dict[int, Exception] | None = None) -> None:
        self.schemas = {1: fastavro.parse_schema(ENV), 2: fastavro.parse_schema(KEY)}
        self.fail = dict(fail or {})
        self.calls: list[tuple[int, int]] = []

    def parsed_schema(self, schema_id: int) -> Any:
        self.calls.append((schema_id, threading.get_ident()))
        if schema_id in self.fail:
            raise self.fail[schema_id]
        return self.schemas[schema_id]  # KeyError (a LookupError): unknown id

    def ids(self) -> list[int]:
        return [i for i, _ in self.calls]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rec:
    """An aiokafka ConsumerRecord stand-in."""

    def __init__(self, value: bytes | None, key: bytes | None = None, offset: int = 0) -> None:
        self.topic, self.partition, self.offset = TOPIC, 0, offset
        self.key, self.value = key, value


def value(schema_id: int = 1, n: int = 1) -> bytes:
    row = {"id": n, "note": "x"}
    event = {"before": None, "after": row, "source": pg_source(), "op": "c", "ts_ms": 1}
    return avro_message(schema_id, ENV, event)


def decoder(resolver: Resolver, clock: Callable[[], float] | None = None) -> Decoder:
    dec = Decoder(resolver=resolver)
    if clock is not None:
        dec._writers._clock = clock
    return dec


def decode(dec: Decoder, rec: Rec) -> Any:
    return dec.decode(rec.key, rec.value, topic=rec.topic, partition=3, offset=rec.offset)


def test_an_unknown_id_is_a_decode_error_asked_once_per_ttl() -> None:
    resolver, clock = Resolver(), Clock()
    dec = decoder(resolver, clock)
    for offset in range(1000):
        with pytest.raises(DecodeError, match="schema id 77 is unknown") as info:
            decode(dec, Rec(value(77), offset=offset))
        assert str(info.value).startswith(f"topic {TOPIC!r} partition 3 offset {offset}: ")
    assert resolver.ids() == [77]
    clock.now += UNKNOWN_TTL + 0.1  # expired: asked again (no prefetch in use)
    with pytest.raises(DecodeError, match="schema id 77 is unknown"):
        decode(dec, Rec(value(77)))
    assert resolver.ids() == [77, 77]


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (UnusableSchemaError("schema id 9 is a PROTOBUF schema, not Avro"), "PROTOBUF schema"),
        (UnusableSchemaError("schema id 9 is not a valid Avro schema (x)"), "not a valid Avro"),
    ],
)
def test_an_unusable_schema_is_a_decode_error_resolved_once(error: Exception, match: str) -> None:
    resolver = Resolver(fail={9: error})
    dec = decoder(resolver)
    for offset in range(50):
        with pytest.raises(DecodeError, match=f"writer schema id 9 cannot be used: .*{match}"):
            decode(dec, Rec(value(9), offset=offset))
    with pytest.raises(DecodeError, match="cannot be used"):  # as a key too
        decode(dec, Rec(value(1), key=avro_message(9, KEY, {"id": 1})))
    assert resolver.ids() == [9, 1]


def test_an_unavailable_registry_propagates_retriable_and_caches_nothing() -> None:
    down = RegistryUnavailableError("schema registry: could not fetch schema id 1 (ConnectError)")
    resolver = Resolver(fail={1: down})
    dec = decoder(resolver)
    for _ in range(2):
        with pytest.raises(RegistryUnavailableError) as info:
            decode(dec, Rec(value(1)))
        assert info.value.retriable
    del resolver.fail[1]  # back up: the next record decodes
    assert decode(dec, Rec(value(1))).after == {"id": 1, "note": "x"}
    assert resolver.ids() == [1, 1, 1]
    assert not RegistryError("HTTP 401").retriable


def test_prefetch_resolves_all_missing_ids_in_one_worker_thread() -> None:
    resolver = Resolver(fail={9: UnusableSchemaError("schema id 9 is a JSON schema, not Avro")})
    dec = decoder(resolver)
    key = avro_message(2, KEY, {"id": 1})
    recs = [Rec(value(1, n), key=key, offset=n) for n in range(300)]
    recs += [Rec(value(77), offset=300 + n) for n in range(300)]  # unknown
    recs += [Rec(value(9), offset=600), Rec(None, key=key), Rec(b'{"x": 1}'), Rec(b"\x00\x01")]
    asyncio.run(dec.prefetch(recs))
    assert sorted(resolver.ids()) == [1, 2, 9, 77]
    threads = {t for _, t in resolver.calls}
    assert len(threads) == 1 and threading.get_ident() not in threads
    resolver.calls.clear()
    outcomes = []
    for rec in recs:
        try:
            outcomes.append(decode(dec, rec))
        except DecodeError as exc:
            outcomes.append(exc)
    assert resolver.calls == []  # decode after prefetch never asks the resolver
    assert all(o.after["id"] == n for n, o in enumerate(outcomes[:300]))
    assert all("schema id 77 is unknown" in str(o) for o in outcomes[300:600])
    assert "cannot be used" in str(outcomes[600])
    asyncio.run(dec.prefetch(recs))  # everything cached: no lookup at all
    assert resolver.calls == []


def test_after_prefetch_decode_never_renews_an_expired_unknown_id() -> None:
    resolver, clock = Resolver(), Clock()
    dec = decoder(resolver, clock)
    recs = [Rec(value(77))]
    asyncio.run(dec.prefetch(recs))
    clock.now += UNKNOWN_TTL + 1  # expired between prefetch and decode
    with pytest.raises(DecodeError, match="schema id 77 is unknown"):
        decode(dec, recs[0])
    assert resolver.ids() == [77]
    asyncio.run(dec.prefetch(recs))  # prefetch renews it
    assert resolver.ids() == [77, 77]
    asyncio.run(dec.prefetch(recs))  # fresh again: not asked
    assert resolver.ids() == [77, 77]


def test_prefetch_raises_the_outage_after_caching_what_resolved() -> None:
    down = RegistryUnavailableError("schema registry: could not fetch schema id 5 (timeout)")
    resolver = Resolver(fail={5: down})
    dec = decoder(resolver)
    recs = [Rec(value(1)), Rec(value(5)), Rec(value(77))]
    with pytest.raises(RegistryUnavailableError):
        asyncio.run(dec.prefetch(recs))
    assert resolver.ids() == [1, 5]  # in id order; stopped at the outage
    resolver.calls.clear()
    del resolver.fail[5]
    resolver.schemas[5] = resolver.schemas[1]
    asyncio.run(dec.prefetch(recs))
    assert resolver.ids() == [5, 77]  # id 1 stayed cached


def test_prefetch_reports_an_unexpected_resolver_failure_per_record() -> None:
    resolver = Resolver(fail={4: RuntimeError("bug")})
    dec = decoder(resolver)
    asyncio.run(dec.prefetch([Rec(value(4))]))
    with pytest.raises(DecodeError, match=r"schema id 4 could not be resolved .*RuntimeError"):
        decode(dec, Rec(value(4)))
    assert resolver.ids() == [4]


def test_prefetch_without_a_resolver_is_a_no_op() -> None:
    dec = Decoder()
    asyncio.run(dec.prefetch([Rec(value(1))]))
    with pytest.raises(DecodeError, match="no schema resolver"):
        decode(dec, Rec(value(1)))
