"""Synthetic Debezium PostgreSQL change events, for benchmarks, tests and demos.

Builds the Avro schemas Debezium's AvroConverter registers for a table (``<server>.<schema>.
<table>.Envelope`` with ``before``/``after``/``source``/``op``/``ts_ms``/``transaction`` and
semantic types named by ``connect.name``) from streamapp column types, and turns Python rows
(the representations of streamapp.types) into the records such a connector would send.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from streamapp.types import FieldType, Kind, TypeSpec, parse_type

EPOCH = dt.date(1970, 1, 1)
EPOCH_DT = dt.datetime(1970, 1, 1)


def _semantic(avro: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"type": avro, "connect.version": 1, "connect.name": name, **extra}


def debezium_avro_type(ft: FieldType) -> Any:
    """The Avro type Debezium (AvroConverter, default modes) uses for a column of ``ft``."""
    k = ft.kind
    if k is Kind.DECIMAL:
        return _semantic(
            "bytes",
            "org.apache.kafka.connect.data.Decimal",
            scale=ft.scale,
            precision=ft.precision,
            logicalType="decimal",
            **{
                "connect.parameters": {
                    "scale": str(ft.scale),
                    "connect.decimal.precision": str(ft.precision),
                }
            },
        )
    simple = {
        Kind.STRING: "string",
        Kind.INT: "long",
        Kind.FLOAT: "double",
        Kind.BOOL: "boolean",
        Kind.BYTES: "bytes",
    }
    if k in simple:
        return simple[k]
    semantic = {
        Kind.DATE: ("int", "io.debezium.time.Date"),
        Kind.TIME: ("long", "io.debezium.time.MicroTime"),
        Kind.TIMESTAMP: ("long", "io.debezium.time.MicroTimestamp"),
        Kind.TIMESTAMPTZ: ("string", "io.debezium.time.ZonedTimestamp"),
        Kind.UUID: ("string", "io.debezium.data.Uuid"),
        Kind.DURATION: ("long", "io.debezium.time.MicroDuration"),
    }
    if k in semantic:
        return _semantic(*semantic[k])
    return _semantic("string", "io.debezium.data.Json")  # json, record, array, map: JSONB


def to_debezium(ft: FieldType, value: Any) -> Any:
    """A Python value of ``ft`` as Debezium writes it (days, micros, ISO strings, JSON text)."""
    if value is None:
        return None
    k = ft.kind
    if k is Kind.DATE:
        return (value - EPOCH).days
    if k is Kind.TIME:
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + (
            value.microsecond
        )
    if k is Kind.TIMESTAMP:
        delta = value - EPOCH_DT
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if k is Kind.TIMESTAMPTZ:
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if k is Kind.DURATION:
        return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if k is Kind.UUID:
        return str(value)
    if k in (Kind.JSON, Kind.RECORD, Kind.ARRAY, Kind.MAP):
        return json.dumps(value, default=str)
    if k is Kind.DECIMAL:
        return Decimal(value).quantize(Decimal(1).scaleb(-(ft.scale or 0)))
    return value


class Table:
    """One source table: its Debezium schemas and a factory for its change events."""

    def __init__(
        self,
        table: str,
        columns: Mapping[str, TypeSpec],
        key: Sequence[str],
        *,
        server: str = "shop",
        schema: str = "public",
        db: str = "source",
    ) -> None:
        self.server, self.schema, self.table, self.db = server, schema, table, db
        self.columns = {name: parse_type(spec) for name, spec in columns.items()}
        self.key = tuple(key)
        self.topic = f"{server}.{schema}.{table}"
        ns = self.topic
        fields = [
            {"name": n, "type": debezium_avro_type(t)}
            if n in self.key
            else {"name": n, "type": ["null", debezium_avro_type(t)], "default": None}
            for n, t in self.columns.items()
        ]
        value = {
            "type": "record",
            "name": "Value",
            "namespace": ns,
            "fields": fields,
            "connect.name": f"{ns}.Value",
        }
        self.key_schema = {
            "type": "record",
            "name": "Key",
            "namespace": ns,
            "connect.name": f"{ns}.Key",
            "fields": [{"name": n, "type": debezium_avro_type(self.columns[n])} for n in self.key],
        }
        source = {
            "type": "record",
            "name": "Source",
            "namespace": "io.debezium.connector.postgresql",
            "fields": [
                {"name": "version", "type": "string"},
                {"name": "connector", "type": "string"},
                {"name": "name", "type": "string"},
                {"name": "ts_ms", "type": "long"},
                {"name": "snapshot", "type": ["string", "null"], "default": "false"},
                {"name": "db", "type": "string"},
                {"name": "sequence", "type": ["null", "string"], "default": None},
                {"name": "schema", "type": "string"},
                {"name": "table", "type": "string"},
                {"name": "txId", "type": ["null", "long"], "default": None},
                {"name": "lsn", "type": ["null", "long"], "default": None},
                {"name": "xmin", "type": ["null", "long"], "default": None},
            ],
        }
        self.value_schema = {
            "type": "record",
            "name": "Envelope",
            "namespace": ns,
            "connect.name": f"{ns}.Envelope",
            "fields": [
                {"name": "before", "type": ["null", value], "default": None},
                {"name": "after", "type": ["null", f"{ns}.Value"], "default": None},
                {"name": "source", "type": source},
                {"name": "op", "type": "string"},
                {"name": "ts_ms", "type": ["null", "long"], "default": None},
                {
                    "name": "transaction",
                    "type": [
                        "null",
                        {
                            "type": "record",
                            "name": "block",
                            "namespace": "event",
                            "fields": [
                                {"name": "id", "type": "string"},
                                {"name": "total_order", "type": "long"},
                                {"name": "data_collection_order", "type": "long"},
                            ],
                        },
                    ],
                    "default": None,
                },
            ],
        }

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A Python row as Debezium encodes it (missing columns are null)."""
        return {n: to_debezium(t, values.get(n)) for n, t in self.columns.items()}

    def key_of(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {n: to_debezium(self.columns[n], values[n]) for n in self.key}

    def event(
        self,
        op: str,
        *,
        after: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        lsn: int,
        tx_id: int = 1,
        ts_ms: int = 1_700_000_000_000,
        previous_commit_lsn: int | None = None,
        snapshot: str = "false",
    ) -> dict[str, Any]:
        """The envelope record of one change (``op`` c/u/d/r) at ``lsn``."""
        sequence = json.dumps([str(previous_commit_lsn or 0), str(lsn)])
        return {
            "before": self.row(before) if before is not None else None,
            "after": self.row(after) if after is not None else None,
            "source": {
                "version": "3.0.0.Final",
                "connector": "postgresql",
                "name": self.server,
                "ts_ms": ts_ms - 5,
                "snapshot": snapshot,
                "db": self.db,
                "sequence": sequence,
                "schema": self.schema,
                "table": self.table,
                "txId": tx_id,
                "lsn": lsn,
                "xmin": None,
            },
            "op": op,
            "ts_ms": ts_ms,
            "transaction": None,
        }
