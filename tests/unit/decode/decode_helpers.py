"""Plain-data helpers for decode tests: an in-memory schema resolver and Avro/JSON encoders."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro

from streamapp.wire import frame


class DictResolver:
    """A SchemaResolver over a plain dict {schema id: schema}; counts lookups."""

    def __init__(self, schemas: dict[int, Any]) -> None:
        self.schemas = {i: fastavro.parse_schema(s) for i, s in schemas.items()}
        self.calls = 0

    def parsed_schema(self, schema_id: int) -> Any:
        self.calls += 1
        return self.schemas[schema_id]


def avro_body(schema: Any, record: Any) -> bytes:
    """Schemaless Avro encoding of ``record`` with ``schema`` (fastavro)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def avro_message(schema_id: int, schema: Any, record: Any) -> bytes:
    """A Confluent wire-format message."""
    return frame(schema_id, avro_body(schema, record))


def connect_message(schema: Any, payload: Any) -> bytes:
    """JsonConverter output with schemas enabled (compact, schema first)."""
    return json.dumps({"schema": schema, "payload": payload}, separators=(",", ":")).encode()


def opt(avro_type: Any) -> list[Any]:
    """An optional Avro field type (``["null", T]``)."""
    return ["null", avro_type]


def field(name: str, avro_type: Any, default: Any = None) -> dict[str, Any]:
    """An Avro record field; optional types get a null default."""
    f: dict[str, Any] = {"name": name, "type": avro_type}
    if isinstance(avro_type, list) and avro_type and avro_type[0] == "null":
        f["default"] = default
    return f


def envelope(value_schema: dict[str, Any], *, connector: str = "postgresql") -> dict[str, Any]:
    """A Debezium envelope Avro schema around ``value_schema`` with a small source block."""
    ns = value_schema.get("namespace", "db.public.t")
    source = {
        "type": "record",
        "name": "Source",
        "namespace": f"io.debezium.connector.{connector}",
        "fields": [
            field("connector", "string"),
            field("db", "string"),
            field("ts_ms", "long"),
            field("snapshot", opt("string")),
            field("table", opt("string")),
            field("sequence", opt("string")),
            field("lsn", opt("long")),
            field("txId", opt("long")),
        ],
    }
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": ns,
        "fields": [
            field("before", opt(value_schema)),
            field("after", opt(f"{ns}.{value_schema['name']}")),
            field("source", source),
            field("op", "string"),
            field("ts_ms", opt("long")),
        ],
    }


def pg_source(lsn: int = 100, **extra: Any) -> dict[str, Any]:
    """A PostgreSQL source block for ``envelope``."""
    base = {
        "connector": "postgresql",
        "db": "shop",
        "ts_ms": 1_700_000_000_000,
        "snapshot": "false",
        "table": "t",
        "sequence": None,
        "lsn": lsn,
        "txId": 7,
    }
    base.update(extra)
    return base
