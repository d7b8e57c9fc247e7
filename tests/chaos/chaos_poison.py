"""Poison input for the chaos run: a factory of valid Debezium events, and the poison it makes.

Every poison record starts as a valid event built from the writer schemas Debezium registered
for the topic (Avro in the Confluent wire format) or as a schemaless Debezium JSON envelope,
and one thing is then broken (the kinds are listed in chaos_kinds). Each one must land in the
topology's dead-letter topic exactly once. Every record's key column is a reserved id
(``POISON_BASE + n``) that no source row ever has, so a poison record a sink stored anyway shows
up in reconcile as an extra key, never as a changed real row.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

POISON_BASE = 1_000_000_000  # reserved key ids: far above any identity the generator uses
MARK = "Q7Z9"  # planted in ``notes`` so that a string's bytes can be found and tampered with

# (factory, table, key id) -> (Kafka key bytes, Kafka value bytes)
Maker = Callable[["PoisonFactory", str, int], tuple[bytes | None, bytes | None]]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of poison: a name (``content.*``: only a sink can refuse it), its table, why
    it is bad, and how to make it."""

    name: str
    table: str  # "orders" or "customers"
    why: str
    make: Maker


@dataclass(frozen=True, slots=True)
class Poison:
    """One bad record, ready to produce to the table's change topic."""

    kind: str
    table: str
    key: bytes | None
    value: bytes | None
    why: str


@dataclass(frozen=True, slots=True)
class WriterSchemas:
    """Debezium's registered schemas of one change topic: ids and parsed JSON."""

    key_id: int
    key: dict[str, Any]
    value_id: int
    value: dict[str, Any]


def frame(schema_id: int, body: bytes) -> bytes:
    """The Confluent wire format: magic byte 0, the schema id, the Avro body."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def varint(n: int) -> bytes:
    """Avro's zigzag varint of ``n`` (lengths, ints, union branches)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def unscaled(value: Decimal | int, scale: int = 2) -> bytes:
    """A Connect Decimal: the unscaled value as big-endian two's complement bytes."""
    n = int(Decimal(value).scaleb(scale))
    return n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)


def _strip_logical(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_strip_logical(s) for s in schema]
    return schema


class PoisonFactory:
    """Valid events of the shop tables for one case, and the poison set made from them."""

    def __init__(self, *, schema: str, writers: dict[str, WriterSchemas], unusable_id: int) -> None:
        import fastavro

        self.schema = schema
        self.writers = writers
        self.unusable_id = unusable_id
        self._parsed = {
            (table, part): fastavro.parse_schema(
                _strip_logical(copy.deepcopy(getattr(w, part))), _write_hint=False
            )
            for table, w in writers.items()
            for part in ("key", "value")
        }
        self._next = POISON_BASE
        self._lsn = 10_000

    def build(self, kinds: list[Kind] | None = None) -> list[Poison]:
        """One record of every kind (default: all of chaos_kinds.KINDS)."""
        if kinds is None:
            from chaos_kinds import KINDS

            kinds = KINDS
        out = []
        for kind in kinds:
            key, value = kind.make(self, kind.table, self.new_id())
            out.append(Poison(kind.name, kind.table, key, value, kind.why))
        return out

    def new_id(self) -> int:
        self._next += 1
        return self._next

    # -- valid events -------------------------------------------------------------------------
    def row(self, table: str, key: int, *, avro: bool) -> dict[str, Any]:
        """A valid row (Avro raw values, or JsonConverter's: bytes in base64)."""
        raw = unscaled(Decimal("12.34"))
        total: Any = raw if avro else base64.b64encode(raw).decode()
        if table == "orders":
            return {
                "id": key,
                "customer_id": None,
                "status": "paid",
                "total": total,
                "currency": "EUR",
                "items": json.dumps([{"sku": "SKU-1", "qty": 1, "unit_price": "12.34"}]),
                "shipping": json.dumps({"method": "post", "address": {"city": "Lyon"}}),
                "placed_at": "2024-05-01T10:00:00.000000Z",
                "notes": MARK,
            }
        return {
            "id": key,
            "email": "a@example.org",
            "full_name": "Ada",
            "phone": "+33 1 23 45 67 89",
            "ssn": "123-45-6789",
            "birth_date": 7000,
            "credit_limit": total,
            "vip": False,
            "address": json.dumps({"street": "1 rue", "city": "Lyon", "geo": {"lat": 1.5}}),
            "created_at": "2024-05-01T10:00:00.000000Z",
            "updated_at": 1_714_557_600_000_000,
            "notes": MARK,
        }

    def envelope(self, table: str, key: int, *, avro: bool = True) -> dict[str, Any]:
        """A valid create event of ``table`` for ``key``."""
        self._lsn += 100
        now = int(time.time() * 1000)
        source = {
            "version": "3.0.8.Final",
            "connector": "postgresql",
            "name": self.schema,
            "ts_ms": now,
            "snapshot": "false",
            "db": "source",
            "sequence": json.dumps([str(self._lsn - 50), str(self._lsn)]),
            "ts_us": now * 1000,
            "ts_ns": now * 1_000_000,
            "schema": self.schema,
            "table": table,
            "txId": 777,
            "lsn": self._lsn,
            "xmin": None,
        }
        return {
            "before": None,
            "after": self.row(table, key, avro=avro),
            "source": source,
            "transaction": None,
            "op": "c",
            "ts_ms": now,
            "ts_us": None,
            "ts_ns": None,
        }

    def avro_key(self, table: str, key: int) -> bytes:
        return frame(self.writers[table].key_id, self._write((table, "key"), {"id": key}))

    def avro_value(self, table: str, envelope: dict[str, Any]) -> bytes:
        return frame(self.writers[table].value_id, self._write((table, "value"), envelope))

    def valid_avro(self, table: str) -> tuple[bytes, bytes]:
        """(key, value) of a valid Avro event: what every Avro kind starts from."""
        key = self.new_id()
        return self.avro_key(table, key), self.avro_value(table, self.envelope(table, key))

    def valid_json(self, table: str) -> tuple[bytes, bytes]:
        """(key, value) of a valid schemaless JSON event."""
        key = self.new_id()
        env = self.envelope(table, key, avro=False)
        return json.dumps({"id": key}).encode(), json.dumps(env).encode()

    def _write(self, which: tuple[str, str], record: dict[str, Any]) -> bytes:
        import fastavro

        out = io.BytesIO()
        fastavro.schemaless_writer(out, self._parsed[which], record)
        return out.getvalue()
