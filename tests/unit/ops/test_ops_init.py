"""`topology init`: registry writer schemas -> declared column types -> a module that loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamapp.decode.schema import from_avro
from streamapp.errors import ConfigError
from streamapp.ops.init import column_spec, from_registry, key_columns, render
from streamapp.transform.loader import load_topologies
from streamapp.types import parse_type


def _dbz(kind: str, connect_name: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "connect.name": connect_name, **extra}


DECIMAL = _dbz(
    "bytes",
    "org.apache.kafka.connect.data.Decimal",
    logicalType="decimal",
    precision=12,
    scale=2,
    **{"connect.parameters": {"scale": "2", "connect.decimal.precision": "12"}},
)

# (writer type as Debezium's Avro converter writes it, the declared type spec)
CASES: list[tuple[Any, Any]] = [
    ("long", "int"),
    ("int", "int"),
    ({"type": "int", "connect.type": "int16"}, "int"),
    ("boolean", "bool"),
    ("double", "float"),
    ("float", "float"),
    ("string", "string"),
    ("bytes", "bytes"),
    (DECIMAL, "decimal(12,2)"),
    (
        _dbz(
            "record",
            "io.debezium.data.VariableScaleDecimal",
            name="VariableScaleDecimal",
            namespace="io.debezium.data",
            fields=[{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}],
        ),
        "decimal(38,9)",
    ),
    (_dbz("int", "io.debezium.time.Date"), "date"),
    (_dbz("int", "io.debezium.time.Time"), "time(3)"),
    (_dbz("long", "io.debezium.time.MicroTime"), "time(6)"),
    (_dbz("long", "io.debezium.time.Timestamp"), "timestamp(3)"),
    (_dbz("long", "io.debezium.time.MicroTimestamp"), "timestamp(6)"),
    (_dbz("long", "io.debezium.time.NanoTimestamp"), "timestamp(9)"),
    (_dbz("string", "io.debezium.time.ZonedTimestamp"), "timestamptz"),
    (_dbz("long", "io.debezium.time.MicroDuration"), "duration"),
    (_dbz("string", "io.debezium.data.Json"), "json"),
    (_dbz("string", "io.debezium.data.Uuid"), "uuid"),
    (_dbz("string", "io.debezium.data.Enum"), "string"),
    ({"type": "long", "logicalType": "timestamp-micros"}, "timestamptz(6)"),
    ({"type": "long", "logicalType": "local-timestamp-millis"}, "timestamp(3)"),
    ({"type": "array", "items": "string"}, "array<string>"),
    ({"type": "array", "items": ["null", DECIMAL]}, "array<decimal(12,2)>"),
    ({"type": "map", "values": "long"}, "map<int>"),
    (
        {
            "type": "record",
            "name": "Address",
            "fields": [
                {"name": "city", "type": "string"},
                {"name": "zip", "type": ["null", "string"]},
            ],
        },
        {"city": "string", "zip": "string"},
    ),
    (
        {
            "type": "array",
            "items": {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]},
        },
        "json",
    ),
]


@pytest.mark.parametrize(("writer", "spec"), CASES, ids=[str(s) for _, s in CASES])
def test_writer_types_map_to_declared_types(writer: Any, spec: Any) -> None:
    record = {"type": "record", "name": "Row", "fields": [{"name": "c", "type": ["null", writer]}]}
    st = from_avro(record).fields[0][1]
    got = column_spec(st)
    assert got == spec
    parse_type(got)  # every spec written is one the loader reads


def _envelope(fields: list[dict[str, Any]]) -> dict[str, Any]:
    row = {"type": "record", "name": "Value", "namespace": "shop.public.t", "fields": fields}
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": "shop.public.t",
        "fields": [
            {"name": "before", "type": ["null", row], "default": None},
            {"name": "after", "type": ["null", "Value"], "default": None},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": None},
        ],
    }


VALUE = _envelope(
    [
        {"name": "id", "type": "long"},
        {"name": "total", "type": ["null", DECIMAL], "default": None},
        {"name": "placed_at", "type": ["null", _dbz("string", "io.debezium.time.ZonedTimestamp")]},
    ]
)
KEY = {"type": "record", "name": "Key", "fields": [{"name": "id", "type": "long"}]}


class Subjects:
    """An in-memory stand-in for SchemaRegistry.latest (subject -> schema)."""

    url = "memory"

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def latest(self, subject: str) -> tuple[int, Any] | None:
        return (1, self.schemas[subject]) if subject in self.schemas else None


def test_skeleton_from_value_and_key_subjects() -> None:
    reg = Subjects({"shop.public.t-value": VALUE, "shop.public.t-key": KEY})
    for subject in ("shop.public.t-value", "shop.public.t"):  # a topic names its subjects too
        sk = from_registry(reg, "t", subject)
        assert sk.topic == "shop.public.t"
        assert dict(sk.columns) == {
            "id": "int",
            "total": "decimal(12,2)",
            "placed_at": "timestamptz",
        }
        assert sk.key == ("id",) and sk.key_subject == "shop.public.t-key"


def test_the_rendered_module_loads_and_validates(tmp_path: Path) -> None:
    reg = Subjects({"shop.public.t-value": VALUE, "shop.public.t-key": KEY})
    (tmp_path / "t.py").write_text(render(from_registry(reg, "t", "shop.public.t-value")))
    [top] = load_topologies(tmp_path, secrets={}, schemas_dir=tmp_path)
    assert top.name == "t" and top.source_topics == ("shop.public.t",)
    assert list(top.output_columns) == ["id", "total", "placed_at"]
    assert top.key_columns == ("id",)


def test_without_a_key_subject_the_key_is_left_to_the_user() -> None:
    sk = from_registry(Subjects({"shop.public.t-value": VALUE}), "t", "shop.public.t-value")
    assert sk.key == () and sk.key_subject is None
    assert "key=[],  # no key subject" in render(sk)


@pytest.mark.parametrize(
    ("schemas", "name", "error"),
    [
        ({}, "t", "has no version in the registry"),
        ({"x-value": KEY}, "t", "is not a Debezium change-event envelope"),
        ({"x-value": "string"}, "t", "is not a Debezium change-event envelope"),
        ({"x-value": VALUE}, "Bad-Name", "must be lower-case letters"),
        ({"x-value": VALUE}, "class", "must be lower-case letters"),
    ],
)
def test_refusals_name_the_subject_and_the_fix(
    schemas: dict[str, Any], name: str, error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        from_registry(Subjects(schemas), name, "x-value")


def test_key_columns_of_a_non_record_key_are_empty() -> None:
    assert key_columns("string") == []
    assert key_columns(KEY) == ["id"]
