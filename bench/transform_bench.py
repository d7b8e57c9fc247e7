"""Core benchmark: decode + a 10-transform topology + encode on a 20-column row, Avro in and out.

Prints records/s for the full chain (streamapp.decode.Decoder -> CompiledTopology.process ->
RecordEncoder.messages) and, on the same messages, the raw fastavro rate (schemaless_reader of
the Debezium envelope + schemaless_writer of the row) for comparison; then the same chain with
one more transform, a lookup of two columns of a 977-row customers table (streamapp/state),
beside it.
Usage: python bench/transform_bench.py [N]   (targets: chain >= 50% of raw, >= 100k/s per core)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro

from streamapp.decode import Decoder
from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import key_schema_for
from streamapp.records import Op, OutputRecord
from streamapp.state import Table as StateTable
from streamapp.synth import Table
from streamapp.topology import Output, Source, Topology, t
from streamapp.transform.compile import compile_topology
from streamapp.transform.lookup import TableShape
from streamapp.types import INT, STRING, parse_type
from streamapp.wire import frame

COLUMNS = {
    "id": "int",
    "customer_id": "int",
    "email": "string",
    "first_name": "string",
    "last_name": "string",
    "phone": "string",
    "status": "string",
    "total": "decimal(12,2)",
    "discount": "decimal(12,2)",
    "currency": "string",
    "quantity": "int",
    "weight": "float",
    "gift": "bool",
    "placed_at": "timestamptz",
    "updated_at": "timestamp",
    "ship_date": "date",
    "tracking": "uuid",
    "notes": "string",
    "channel": "string",
    "loyalty_points": "int",
}

TOPOLOGY = Topology(
    name="bench",
    source=Source(topic="shop.public.orders_wide", columns=COLUMNS),
    key=["id"],
    transforms=[
        t.filter_ops("c", "u", "r", "d"),  # 1
        t.drop("notes"),  # 2
        t.rename(first_name="given_name"),  # 3
        t.rename(last_name="family_name"),  # 4
        t.cast(quantity="float"),  # 5
        t.mask("email", t.email_keep_domain()),  # 6
        t.mask("phone", t.keep_last(4)),  # 7
        t.mask("tracking", t.hmac_sha256()),  # 8
        t.derive(
            "net",
            lambda r: (
                None if r["total"] is None or r["discount"] is None else r["total"] - r["discount"]
            ),
            type="decimal(13,2)",
        ),  # 9
        t.metadata("__op", "__source_ts_ms", "__lsn"),  # 10
    ],
    output=Output(topic="bench.out"),
)


def rows(n: int) -> list[dict[str, Any]]:
    base = dt.datetime(2026, 1, 1, 12, 0, 0)
    return [
        {
            "id": i,
            "customer_id": i % 977,
            "email": f"user{i}@example.com",
            "first_name": "Ada",
            "last_name": f"Lovelace{i % 13}",
            "phone": f"+44 20 7946 {i % 10000:04d}",
            "status": ("paid", "shipped", "pending")[i % 3],
            "total": Decimal(i % 100000) / 100 - 50,
            "discount": Decimal(i % 700) / 100,
            "currency": "EUR",
            "quantity": i % 9,
            "weight": i * 0.25,
            "gift": i % 2 == 0,
            "placed_at": (base + dt.timedelta(seconds=i)).replace(tzinfo=dt.UTC),
            "updated_at": base + dt.timedelta(microseconds=i * 7),
            "ship_date": dt.date(2026, 1, 1) + dt.timedelta(days=i % 90),
            "tracking": uuid.UUID(int=i * 7919),
            "notes": "x" * (i % 40),
            "channel": "web",
            "loyalty_points": i % 5000,
        }
        for i in range(n)
    ]


class DictResolver:
    def __init__(self, schemas: dict[int, Any]) -> None:
        self.parsed = {i: fastavro.parse_schema(s) for i, s in schemas.items()}

    def parsed_schema(self, schema_id: int) -> Any:
        return self.parsed[schema_id]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    table = Table("orders_wide", COLUMNS, ["id"])
    value_schema = fastavro.parse_schema(table.value_schema)
    key_schema = fastavro.parse_schema(table.key_schema)
    messages = []
    for i, row in enumerate(rows(n)):
        before = dict(row, status="pending")
        record = table.event("u", before=before, after=row, lsn=10_000 + i)
        vbuf, kbuf = io.BytesIO(), io.BytesIO()
        fastavro.schemaless_writer(vbuf, value_schema, record)
        fastavro.schemaless_writer(kbuf, key_schema, table.key_of(row))
        messages.append((frame(2, kbuf.getvalue()), frame(1, vbuf.getvalue())))

    compiled = compile_topology(
        TOPOLOGY, secrets={"default": b"bench-secret-0123456789"}, schemas_dir=Path("schemas")
    )
    hints = {k: parse_type(v) for k, v in COLUMNS.items()}
    decoder = Decoder(
        resolver=DictResolver({1: table.value_schema, 2: table.key_schema}),
        hints=hints,
        needs_before=compiled.reads_before,
    )
    out_key = key_schema_for(
        compiled.output_columns,
        name="bench_key",
        namespace="bench",
        key_columns=compiled.key_columns,
    )
    encoder = RecordEncoder(
        compiled.output_avro_schema, out_key, value_schema_id=3, key_schema_id=4
    )
    decode, process, encode = decoder.decode, compiled.process, encoder.messages

    def chain() -> int:
        produced = 0
        for offset, (key, value) in enumerate(messages):
            event = decode(key, value, topic=table.topic, partition=0, offset=offset)
            for out in process(event):
                produced += len(encode(out))
        return produced

    envelope_schema: Any = table.value_schema
    row_schema = fastavro.parse_schema(envelope_schema["fields"][0]["type"][1])

    def raw() -> int:
        reader, writer = fastavro.schemaless_reader, fastavro.schemaless_writer
        produced = 0
        for _key, value in messages:
            envelope: Any = reader(io.BytesIO(value[5:]), value_schema, value_schema)
            out = io.BytesIO()
            writer(out, row_schema, envelope["after"])
            produced += 1
        return produced

    enriched = lookup_chain(messages, decoder, table.topic)
    for name, fn in (
        ("raw fastavro decode+encode", raw),
        ("streamapp decode+10 transforms+encode", chain),
        ("  same + t.lookup (2 columns)", enriched),
    ):
        fn()  # warm up caches and generated code
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            fn()
            best = max(best, n / (time.perf_counter() - start))
        print(f"{name:<40} {best:>10,.0f} records/s")
        if name.startswith("raw"):
            raw_rate = best
        elif name.startswith("streamapp"):
            chain_rate = best
    print(f"{'chain / raw':<40} {chain_rate / raw_rate:>10.0%}")


def lookup_chain(messages: list[tuple[bytes, bytes]], decoder: Decoder, topic: str) -> Any:
    """The bench chain plus ``t.lookup("customers", on="customer_id")`` over a seeded table."""
    customers = TableShape(("id",), {"id": INT, "name": STRING, "tier": INT})
    spec = dataclasses.replace(
        TOPOLOGY,
        transforms=(
            *TOPOLOGY.transforms,
            t.lookup(
                "customers", on="customer_id", columns={"name": "customer_name", "tier": "tier"}
            ),
        ),
    )
    compiled = compile_topology(
        spec,
        secrets={"default": b"bench-secret-0123456789"},
        schemas_dir=Path("schemas"),
        tables={"customers": customers},
    )
    state = StateTable("customers", ("id",))
    state.apply(
        OutputRecord(
            "customers",
            (i,),
            {"id": i, "name": f"c{i}", "tier": i % 3},
            1,
            Op.CREATE,
            False,
            frozenset(),
            None,
        )
        for i in range(977)
    )
    compiled.table_refs["customers"].get = state.get
    out_key = key_schema_for(
        compiled.output_columns, name="bench_key", namespace="bench", key_columns=("id",)
    )
    encoder = RecordEncoder(
        compiled.output_avro_schema, out_key, value_schema_id=5, key_schema_id=6
    )
    decode, process, encode = decoder.decode, compiled.process, encoder.messages

    def chain() -> int:
        produced = 0
        for offset, (key, value) in enumerate(messages):
            event = decode(key, value, topic=topic, partition=0, offset=offset)
            for out in process(event):
                produced += len(encode(out))
        return produced

    return chain


if __name__ == "__main__":
    main()
