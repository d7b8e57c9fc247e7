"""Decode against the real registry: prefetch resolves a batch's schema ids off the event loop,
then decode makes no HTTP request; unknown and non-Avro ids are per-record DecodeErrors."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from typing import Any

import fastavro
import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from streamapp.decode import Decoder
from streamapp.errors import DecodeError, RegistryUnavailableError
from streamapp.registry import SchemaRegistry
from streamapp.settings import Settings
from streamapp.synth import Table
from streamapp.wire import frame

COLUMNS = {"id": "int", "note": "string"}
UNKNOWN_ID = 987_654_321


class Rec:
    """An aiokafka ConsumerRecord stand-in."""

    def __init__(self, topic: str, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.topic, self.partition, self.offset = topic, 0, offset
        self.key, self.value = key, value


class Requests:
    """Counts the HTTP requests of a SchemaRegistry's client, and the threads sending them."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.count = 0
        self.threads: set[int] = set()
        session: httpx.Client = registry._client._rest_client.session
        session.event_hooks["request"].append(self._seen)

    def _seen(self, request: httpx.Request) -> None:
        self.count += 1
        self.threads.add(threading.get_ident())


@pytest.fixture
def registry(stack: Settings) -> Any:
    reg = SchemaRegistry(stack.registry_url, settings=stack)
    yield reg
    reg.close()


def test_decode_after_prefetch_makes_no_http_request(
    registry: SchemaRegistry, registry_client: Any, unique: str
) -> None:
    """(registry_client deletes the subjects this test creates.)"""
    table = Table(unique, COLUMNS, ["id"], server="it")
    avro_id = registry_client.register_schema(
        f"{unique}.t-value", Schema(json.dumps(table.value_schema), "AVRO")
    )
    json_id = registry_client.register_schema(
        f"{unique}.j-value",
        Schema('{"type": "object", "properties": {"a": {"type": "string"}}}', "JSON"),
    )
    body = io.BytesIO()
    after = {"id": 7, "note": "hi"}
    fastavro.schemaless_writer(
        body, fastavro.parse_schema(table.value_schema), table.event("c", after=after, lsn=1)
    )
    good, bad = frame(avro_id, body.getvalue()), frame(json_id, body.getvalue())
    unknown = frame(UNKNOWN_ID, body.getvalue())
    recs = [Rec(table.topic, n, None, unknown) for n in range(1000)]
    recs += [Rec(table.topic, 1000, None, good), Rec(table.topic, 1001, None, bad)]

    requests = Requests(registry)
    decoder = Decoder(resolver=registry)
    asyncio.run(decoder.prefetch(recs))
    assert 3 <= requests.count <= 6  # the three ids, once each (client retries aside)
    assert threading.get_ident() not in requests.threads  # off the event loop's thread

    requests.count = 0
    outcomes: list[Any] = []
    for rec in recs:
        try:
            outcomes.append(decoder.decode(rec.key, rec.value, topic=rec.topic, offset=rec.offset))
        except DecodeError as exc:
            outcomes.append(exc)
    assert requests.count == 0
    assert all(isinstance(o, DecodeError) for o in outcomes[:1000])
    assert str(outcomes[999]).startswith(f"topic {table.topic!r} partition 0 offset 999: ")
    assert f"schema id {UNKNOWN_ID} is unknown" in str(outcomes[999])
    assert outcomes[1000].after == after
    assert isinstance(outcomes[1001], DecodeError)
    assert f"writer schema id {json_id} cannot be used" in str(outcomes[1001])
    assert "JSON schema, not Avro" in str(outcomes[1001])

    asyncio.run(decoder.prefetch(recs))  # all cached (the unknown id for 60 s)
    asyncio.run(Decoder(resolver=registry).prefetch(recs))  # a new decoder: registry cache
    assert requests.count == 0


def test_an_unreachable_registry_is_retriable_not_a_bad_record(unique: str) -> None:
    url = "http://127.0.0.1:9/apis/ccompat/v7"  # the discard port: connection refused
    closed = SchemaRegistry(url, client=SchemaRegistryClient({"url": url, "max.retries": 0}))
    try:
        decoder = Decoder(resolver=closed)
        recs = [Rec(f"{unique}.t", 0, None, frame(1, b"\x00"))]
        with pytest.raises(RegistryUnavailableError, match="ConnectError") as info:
            asyncio.run(decoder.prefetch(recs))
        assert info.value.retriable
        with pytest.raises(RegistryUnavailableError):  # nothing cached: asked again
            decoder.decode(None, recs[0].value, topic=recs[0].topic)
    finally:
        closed.close()
