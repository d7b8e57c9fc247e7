"""SchemaRegistry against an in-memory fake of confluent_kafka's SchemaRegistryClient."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import RegisteredSchema, Schema, SchemaReference
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamapp.errors import ConfigError, IncompatibleSchemaError, RegistryError, UnknownSchemaError
from streamapp.registry import DEFAULT_URL, SchemaRegistry, subject_name

URL = "http://registry.test/apis/ccompat/v7"
V1 = {"type": "record", "name": "T", "fields": [{"name": "id", "type": "long"}]}
V2 = {"type": "record", "name": "T", "fields": [
    {"name": "id", "type": "long"}, {"name": "x", "type": "long", "default": 0}]}  # fmt: skip
V3 = {"type": "record", "name": "T", "fields": [
    {"name": "id", "type": "long"}, {"name": "x", "type": "long"}]}  # fmt: skip
NO_DEFAULT = {"type": "record", "name": "T", "fields": [
    {"name": "id", "type": "long"}, {"name": "y", "type": "string"}]}  # fmt: skip


def not_found(code: int = 40401) -> SchemaRegistryError:
    return SchemaRegistryError(404, code, "not found")


@dataclass
class FakeClient:
    """Subjects -> versions -> schema id; counts calls; fails on demand."""

    schemas: dict[int, Schema] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)
    levels: dict[str | None, str] = field(default_factory=dict)
    compatible: bool = True
    fail: dict[str, Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def add(self, subject: str, schema: dict[str, Any] | Schema) -> int:
        wrapped = schema if isinstance(schema, Schema) else Schema(json.dumps(schema), "AVRO")
        schema_id = 100 + len(self.schemas)
        self.schemas[schema_id] = wrapped
        self.subjects.setdefault(subject, []).append(schema_id)
        return schema_id

    def _registered(self, subject: str, version: int) -> RegisteredSchema:
        ids = self.subjects.get(subject)
        if not ids or not 1 <= version <= len(ids):
            raise not_found()
        schema_id = ids[version - 1]
        return RegisteredSchema(subject=subject, version=version, schema_id=schema_id,
                                guid=None, schema=self.schemas[schema_id])  # fmt: skip

    def get_schema(self, schema_id: int) -> Schema:
        self._enter("get_schema")
        if schema_id not in self.schemas:
            raise not_found(40403)
        return self.schemas[schema_id]

    def get_latest_version(self, subject: str) -> RegisteredSchema:
        self._enter("get_latest_version")
        return self._registered(subject, len(self.subjects.get(subject, ())))

    def get_version(self, subject: str, version: int) -> RegisteredSchema:
        self._enter("get_version")
        return self._registered(subject, version)

    def get_versions(self, subject: str) -> list[int]:
        self._enter("get_versions")
        return list(range(1, len(self.subjects.get(subject, ())) + 1))

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None) -> None:
        self._enter(f"set_compatibility:{subject_name}")
        assert level is not None
        self.levels[subject_name] = level

    def get_compatibility(self, subject: str | None = None) -> str:
        self._enter(f"get_compatibility:{subject}")
        if subject not in self.levels:
            raise not_found(40408)
        return self.levels[subject]

    def test_compatibility(self, subject: str, schema: Schema) -> bool:
        self._enter("test_compatibility")
        return self.compatible

    def register_schema(self, subject: str, schema: Schema) -> int:
        self._enter("register_schema")
        for schema_id, known in self.schemas.items():
            if known.schema_str == schema.schema_str:
                self.subjects.setdefault(subject, []).append(schema_id)
                return schema_id
        return self.add(subject, schema)


def registry(client: FakeClient) -> SchemaRegistry:
    return SchemaRegistry(URL, client=client)


def test_subject_names_follow_topic_name_strategy() -> None:
    assert subject_name("orders_out") == "orders_out-value"
    assert subject_name("orders_out", key=True) == "orders_out-key"


def test_default_url_is_the_local_apicurio_ccompat_api() -> None:
    assert (
        SchemaRegistry(client=FakeClient()).url
        == DEFAULT_URL
        == ("http://127.0.0.1:8081/apis/ccompat/v7")
    )


def test_schema_and_parsed_schema_are_cached_per_id() -> None:
    client = FakeClient()
    schema_id = client.add("s-value", V1)
    reg = registry(client)
    assert reg.schema(schema_id) == V1
    assert reg.schema(schema_id) is reg.schema(schema_id)
    parsed = reg.parsed_schema(schema_id)
    assert parsed is reg.parsed_schema(schema_id)
    assert parsed["name"] == "T"
    assert client.calls == ["get_schema"]


def test_primitive_schema_is_wrapped_as_a_dict() -> None:
    client = FakeClient()
    schema_id = client.add("k", Schema('"string"', "AVRO"))
    assert registry(client).schema(schema_id) == {"type": "string"}


def test_parsed_schema_resolves_references() -> None:
    client = FakeClient()
    client.add("address", {"type": "record", "name": "ns.Address",
                           "fields": [{"name": "city", "type": "string"}]})  # fmt: skip
    ref = SchemaReference(name="ns.Address", subject="address", version=1)
    outer = {"type": "record", "name": "ns.Customer",
             "fields": [{"name": "home", "type": "ns.Address"}]}  # fmt: skip
    schema_id = client.add("customer", Schema(json.dumps(outer), "AVRO", [ref]))
    parsed = registry(client).parsed_schema(schema_id)
    assert parsed["__named_schemas"]["ns.Address"]["fields"][0]["name"] == "city"


@pytest.mark.parametrize(
    ("fail", "call", "needle"),
    [
        ({"get_schema": SchemaRegistryError(500, 50001, "boom")}, "schema",
         "could not fetch schema id 7 (HTTP 500, code 50001: boom)"),
        ({"get_schema": httpx.ConnectError("refused")}, "schema",
         "could not fetch schema id 7 (ConnectError: refused)"),
        ({"get_latest_version": SchemaRegistryError(500, 1, "x")}, "latest",
         "could not fetch the latest version of subject 's-value'"),
        ({"get_latest_version": OSError("down")}, "latest", "(OSError: down)"),
    ],
)  # fmt: skip
def test_registry_failures_are_one_line_registry_errors(
    fail: dict[str, Exception], call: str, needle: str
) -> None:
    reg = registry(FakeClient(fail=fail))
    with pytest.raises(RegistryError) as info:
        reg.schema(7) if call == "schema" else reg.latest("s-value")
    message = str(info.value)
    assert needle in message
    assert URL in message
    assert "\n" not in message


def test_unknown_id_is_a_lookup_error_that_decode_turns_into_a_decode_error() -> None:
    with pytest.raises(UnknownSchemaError, match=r"no schema with that id \(HTTP 404") as info:
        registry(FakeClient()).schema(7)
    assert isinstance(info.value, LookupError) and isinstance(info.value, RegistryError)


def test_non_avro_schema_is_refused() -> None:
    client = FakeClient()
    schema_id = client.add("s", Schema("syntax = 'proto3';", "PROTOBUF"))
    with pytest.raises(RegistryError, match="is a PROTOBUF schema, not Avro"):
        registry(client).schema(schema_id)


def test_latest_is_none_for_an_unknown_subject() -> None:
    assert registry(FakeClient()).latest("nope-value") is None


def test_latest_returns_id_and_schema() -> None:
    client = FakeClient()
    client.add("s-value", V1)
    second = client.add("s-value", V2)
    assert registry(client).latest("s-value") == (second, V2)


def test_register_a_new_subject_skips_compatibility_checks() -> None:
    client = FakeClient()
    schema_id = registry(client).register("s-value", V1)
    text = client.schemas[schema_id].schema_str
    assert text is not None
    assert json.loads(text) == V1
    assert "test_compatibility" not in client.calls


def test_register_the_latest_schema_again_returns_its_id_without_registering() -> None:
    client = FakeClient()
    schema_id = client.add("s-value", V1)
    assert registry(client).register("s-value", dict(V1)) == schema_id
    assert "register_schema" not in client.calls


def test_register_a_compatible_version() -> None:
    client = FakeClient()
    client.add("s-value", V1)
    reg = registry(client)
    schema_id = reg.register("s-value", V2)
    assert client.subjects["s-value"][-1] == schema_id
    assert reg.schema(schema_id) == V2
    assert client.calls[-2:] == ["test_compatibility", "register_schema"]


def test_incompatible_schema_is_refused_before_the_registry_is_asked() -> None:
    client = FakeClient()
    client.add("s-value", V1)
    with pytest.raises(IncompatibleSchemaError) as info:
        registry(client).register("s-value", NO_DEFAULT)
    assert str(info.value) == (
        "subject 's-value' (BACKWARD): the new schema is incompatible — field 'y': added without "
        "a default (BACKWARD: new readers must read old data)"
    )
    assert "register_schema" not in client.calls
    assert "test_compatibility" not in client.calls


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ({"s-value": "FORWARD", None: "BACKWARD"}, "FORWARD"),
        ({None: "full"}, "FULL"),
        ({"s-value": "WHATEVER"}, "BACKWARD"),
        ({}, "BACKWARD"),
    ],
)
def test_compatibility_level_subject_then_global_then_backward(
    levels: dict[str | None, str], expected: str
) -> None:
    assert registry(FakeClient(levels=levels)).compatibility_level("s-value") == expected


def test_level_from_the_registry_decides_the_check() -> None:
    client = FakeClient(levels={"s-value": "FORWARD"})
    client.add("s-value", V1)
    registry(client).register("s-value", NO_DEFAULT)  # adding a field is FORWARD compatible
    with pytest.raises(IncompatibleSchemaError, match="removed, and the old schema has no"):
        registry(client).register("s-value", V1)


def test_transitive_level_checks_every_version() -> None:
    client = FakeClient(levels={None: "BACKWARD_TRANSITIVE"})
    client.add("s-value", V1)
    client.add("s-value", V2)
    with pytest.raises(IncompatibleSchemaError, match=r"old version 1 \(of 2\)"):
        registry(client).register("s-value", V3)
    assert client.calls.count("get_version") == 2


def test_level_none_skips_every_check() -> None:
    client = FakeClient(levels={None: "NONE"})
    client.add("s-value", V1)
    registry(client).register("s-value", {"type": "record", "name": "T", "fields": []})
    assert "test_compatibility" not in client.calls


def test_registry_verdict_incompatible_is_refused() -> None:
    client = FakeClient(compatible=False)
    client.add("s-value", V1)
    with pytest.raises(IncompatibleSchemaError, match="reports the new schema incompatible"):
        registry(client).register("s-value", V2)
    assert "register_schema" not in client.calls


def test_registry_409_is_incompatible() -> None:
    client = FakeClient(fail={"register_schema": SchemaRegistryError(409, 409, "conflict")})
    with pytest.raises(IncompatibleSchemaError, match="refused the new schema as incompatible"):
        registry(client).register("s-value", V1)


def test_register_failure_is_a_registry_error() -> None:
    client = FakeClient(fail={"register_schema": SchemaRegistryError(422, 42201, "bad")})
    with pytest.raises(RegistryError, match="could not register a schema under subject 's-value'"):
        registry(client).register("s-value", V1)


def test_register_refuses_an_invalid_schema_without_calling_the_registry() -> None:
    client = FakeClient()
    bad = {"type": "record", "name": "T", "fields": [{"name": "x", "type": "nope"}]}
    with pytest.raises(ConfigError, match="subject 's-value' is not a valid Avro schema"):
        registry(client).register("s-value", bad)
    assert client.calls == []


def test_a_new_subject_gets_the_configured_level_pinned() -> None:
    """Apicurio reports NONE for a subject without its own level: we pin ours on creation."""
    client = FakeClient()
    reg = SchemaRegistry(URL, client=client, compatibility="full")
    reg.register("fresh-value", {"type": "record", "name": "r", "fields": []})
    assert client.levels["fresh-value"] == "FULL"


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ConfigError, match="SIDEWAYS"):
        SchemaRegistry(URL, client=FakeClient(), compatibility="SIDEWAYS")
