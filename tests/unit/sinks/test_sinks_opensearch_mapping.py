"""OpenSearch mappings from output columns, index names and id templates (no node needed)."""

from __future__ import annotations

import pytest

from streamapp.sinks.base import TableSpec
from streamapp.sinks.opensearch.mapping import (
    field_mapping,
    id_template,
    index_body,
    index_problem,
)
from streamapp.sinks.redis.keys import KeyTemplateError
from streamapp.types import parse_type


@pytest.mark.parametrize(
    ("spec", "key", "mapping"),
    [
        ("string", True, {"type": "keyword"}),
        (
            "string",
            False,
            {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 8191}}},
        ),
        ("int", False, {"type": "long"}),
        ("decimal(10,2)", False, {"type": "scaled_float", "scaling_factor": 100}),
        ("decimal(15,0)", False, {"type": "scaled_float", "scaling_factor": 1}),
        ("decimal(16,2)", False, {"type": "keyword"}),  # beyond a double's exact integers
        ("date", False, {"type": "date", "format": "strict_date"}),
        ("timestamptz", False, {"type": "date", "format": "strict_date_optional_time"}),
        ("time", False, {"type": "keyword"}),
        ("duration", False, {"type": "long"}),
        ("bytes", False, {"type": "binary"}),
        ("json", False, {"type": "object", "enabled": False}),
        ({"a": "int"}, False, {"type": "flat_object"}),
        ("map<string>", False, {"type": "flat_object"}),
        ("array<int>", False, {"type": "long"}),
        ("array<json>", False, {"type": "object", "enabled": False}),
    ],
)
def test_field_mapping_per_kind(spec: object, key: bool, mapping: dict[str, object]) -> None:
    assert field_mapping(parse_type(spec), key=key) == mapping  # type: ignore[arg-type]


def test_index_body_is_strict_with_explicit_replicas_and_gc_deletes() -> None:
    table = TableSpec("t", "orders", ("id",), {"id": parse_type("string")})
    body = index_body(table, replicas=0, gc_deletes="7d")
    assert body["settings"]["index"] == {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "gc_deletes": "7d",
    }
    assert body["mappings"] == {"dynamic": "strict", "properties": {"id": {"type": "keyword"}}}


@pytest.mark.parametrize("name", ["orders", "shop.orders-v2", "a_1"])
def test_valid_index_names(name: str) -> None:
    assert index_problem(name) is None


@pytest.mark.parametrize("name", ["Orders", "_orders", "-x", "a b", "a*", "", "x" * 256, 3])
def test_invalid_index_names(name: object) -> None:
    assert index_problem(name) is not None


def test_id_template_defaults_to_the_key_columns() -> None:
    assert id_template(None, ("tenant", "id")).template == "{tenant}:{id}"


@pytest.mark.parametrize(
    ("template", "words"),
    [("o:{name}", "not key column"), ("o:{tenant}", "leaves out key column"), ("o", "no column")],
)
def test_id_template_problems(template: str, words: str) -> None:
    with pytest.raises(KeyTemplateError, match=words):
        id_template(template, ("tenant", "id"))
