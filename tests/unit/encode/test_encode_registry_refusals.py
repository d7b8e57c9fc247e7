"""SchemaRegistry by id: unknown ids kept for a TTL, unusable schemas kept, outages retriable."""

from __future__ import annotations

import json

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference
from confluent_kafka.schema_registry.error import SchemaRegistryError
from test_encode_registry import URL, V1, FakeClient

from streamapp.errors import (
    RegistryError,
    RegistryUnavailableError,
    UnknownSchemaError,
    UnusableSchemaError,
)
from streamapp.registry import NEGATIVE_TTL, SchemaRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def registry(client: FakeClient, clock: Clock | None = None) -> SchemaRegistry:
    return SchemaRegistry(URL, client=client, clock=clock or Clock())


def test_an_unknown_id_is_asked_once_per_ttl() -> None:
    client, clock = FakeClient(), Clock()
    reg = registry(client, clock)
    for _ in range(1000):
        with pytest.raises(UnknownSchemaError, match="no schema with that id"):
            reg.parsed_schema(7)
    assert client.calls == ["get_schema"]
    clock.now += NEGATIVE_TTL - 1
    with pytest.raises(UnknownSchemaError):
        reg.schema(7)
    assert client.calls == ["get_schema"]
    clock.now += 2  # expired: the registry is asked again, and now knows the id
    client.schemas[7] = Schema(json.dumps(V1), "AVRO")
    assert reg.parsed_schema(7)["name"] == "T"
    assert client.calls == ["get_schema", "get_schema"]


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        (Schema("syntax = 'proto3';", "PROTOBUF"), "schema id 100 is a PROTOBUF schema, not Avro"),
        (Schema('{"type": "object"}', "JSON"), "schema id 100 is a JSON schema, not Avro"),
        (Schema("{not json", "AVRO"), "schema id 100 is not valid JSON"),
        (Schema('{"type": "nosuch"}', "AVRO"), "schema id 100 is not a valid Avro"),
    ],
)
def test_an_unusable_schema_is_refused_and_never_fetched_again(schema: Schema, match: str) -> None:
    client = FakeClient()
    schema_id = client.add("s-value", schema)
    reg = registry(client)
    for _ in range(3):
        with pytest.raises(UnusableSchemaError, match=match) as info:
            reg.parsed_schema(schema_id)
        assert not info.value.retriable and not isinstance(info.value, LookupError)
    assert client.calls == ["get_schema"]


def test_a_missing_reference_is_an_unknown_schema() -> None:
    client = FakeClient()
    ref = SchemaReference(name="ns.Address", subject="gone", version=1)
    outer = {"type": "record", "name": "ns.C", "fields": [{"name": "a", "type": "ns.Address"}]}
    schema_id = client.add("c", Schema(json.dumps(outer), "AVRO", [ref]))
    reg = registry(client)
    for _ in range(2):
        with pytest.raises(UnknownSchemaError, match=r"could not fetch reference 'ns\.Address'"):
            reg.parsed_schema(schema_id)
    assert client.calls == ["get_schema", "get_version"]


@pytest.mark.parametrize(
    "failure",
    [
        SchemaRegistryError(500, 50001, "boom"),
        SchemaRegistryError(503, -1, "unavailable"),
        SchemaRegistryError(429, 42901, "slow down"),
        SchemaRegistryError(408, -1, "timeout"),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        ConnectionRefusedError("refused"),
    ],
)
def test_a_transient_failure_is_retriable_and_not_cached(failure: Exception) -> None:
    client = FakeClient(fail={"get_schema": failure})
    schema_id = client.add("s-value", V1)
    reg = registry(client)
    for _ in range(2):
        with pytest.raises(RegistryUnavailableError, match=f"fetch schema id {schema_id}") as info:
            reg.parsed_schema(schema_id)
        assert info.value.retriable and "\n" not in str(info.value)
    del client.fail["get_schema"]
    assert reg.parsed_schema(schema_id)["name"] == "T"
    assert client.calls == ["get_schema"] * 3


@pytest.mark.parametrize(
    "failure", [SchemaRegistryError(401, 40101, "unauthorized"), ValueError("bad body")]
)
def test_a_refusal_that_retrying_cannot_change_is_not_retriable(failure: Exception) -> None:
    reg = registry(FakeClient(fail={"get_schema": failure}))
    with pytest.raises(RegistryError) as info:
        reg.schema(7)
    assert not info.value.retriable
    assert not isinstance(info.value, (RegistryUnavailableError, UnknownSchemaError))
