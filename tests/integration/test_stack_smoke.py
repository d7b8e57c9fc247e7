"""Smoke tests: each service of the local stack is real and does what streamapp relies on."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import fastavro
import pytest

from streamapp import wire
from streamapp.settings import Settings

RECORD_V1 = {
    "type": "record",
    "name": "Customer",
    "namespace": "smoke",
    "fields": [{"name": "id", "type": "long"}, {"name": "email", "type": "string"}],
}
# BACKWARD-compatible: the new field has a default, so new readers can read old data.
RECORD_V2 = {
    **RECORD_V1,
    "fields": [*RECORD_V1["fields"], {"name": "vip", "type": "boolean", "default": False}],
}
# Not BACKWARD-compatible: a new field without a default.
RECORD_BAD = {
    **RECORD_V1,
    "fields": [*RECORD_V1["fields"], {"name": "tier", "type": "string"}],
}


def test_aiokafka_produce_and_consume(stack: Settings, new_topic: Any) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = new_topic()

    async def roundtrip() -> list[tuple[bytes | None, bytes | None]]:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, key=b"k%d" % i, value=b"v%d" % i)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        got: list[tuple[bytes | None, bytes | None]] = []
        try:
            deadline = time.monotonic() + 30
            while len(got) < 10 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    got.extend((r.key, r.value) for r in records)
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(roundtrip())
    assert got == [(b"k%d" % i, b"v%d" % i) for i in range(10)]


def test_confluent_kafka_produce_and_consume(stack: Settings, new_topic: Any, unique: str) -> None:
    from confluent_kafka import Consumer, Producer

    topic = new_topic()
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    for i in range(5):
        producer.produce(topic, key=f"k{i}", value=json.dumps({"i": i}))
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka_bootstrap,
            "group.id": unique,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[int] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < 5 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            values.append(json.loads(msg.value())["i"])
    finally:
        consumer.close()
    assert values == [0, 1, 2, 3, 4]


def test_topic_with_six_partitions_has_matching_metadata(kafka_admin: Any, new_topic: Any) -> None:
    topic = new_topic(partitions=6)
    meta = kafka_admin.list_topics(topic=topic, timeout=10)
    partitions = meta.topics[topic].partitions
    assert sorted(partitions) == [0, 1, 2, 3, 4, 5]
    assert all(p.leader == 1 for p in partitions.values())


def test_registry_register_fetch_and_compatibility(registry_client: Any, unique: str) -> None:
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    subject = f"{unique}-value"
    schema_id = registry_client.register_schema(subject, Schema(json.dumps(RECORD_V1), "AVRO"))
    fetched = registry_client.get_schema(schema_id)
    assert json.loads(fetched.schema_str)["fields"] == RECORD_V1["fields"]
    registry_client.set_compatibility(subject, "BACKWARD")

    assert registry_client.test_compatibility(subject, Schema(json.dumps(RECORD_V2), "AVRO"))
    assert not registry_client.test_compatibility(subject, Schema(json.dumps(RECORD_BAD), "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        registry_client.register_schema(subject, Schema(json.dumps(RECORD_BAD), "AVRO"))
    assert refused.value.http_status_code == 409
    v2_id = registry_client.register_schema(subject, Schema(json.dumps(RECORD_V2), "AVRO"))
    assert v2_id != schema_id
    assert [v for v in registry_client.get_versions(subject)] == [1, 2]


def test_confluent_wire_format_roundtrip(registry_client: Any, unique: str) -> None:
    """confluent-kafka's own serializer and our framing + fastavro agree byte for byte."""
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    topic = f"{unique}.wire"
    record = {"id": -42, "email": "a@example.com"}
    serializer = AvroSerializer(registry_client, json.dumps(RECORD_V1))
    ctx = SerializationContext(topic, MessageField.VALUE)
    data = serializer(record, ctx)
    assert wire.is_framed(data)

    schema_id, body = wire.unframe(data)
    registered = json.loads(registry_client.get_schema(schema_id).schema_str)
    parsed = fastavro.parse_schema(registered)
    assert fastavro.schemaless_reader(io.BytesIO(body), parsed, parsed) == record

    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    ours = wire.frame(schema_id, out.getvalue())
    assert ours == data
    assert AvroDeserializer(registry_client)(ours, ctx) == record


def test_postgres_logical_replication_slot(pg_source: Any, unique: str) -> None:
    assert pg_source.execute("show wal_level").fetchone()[0] == "logical"
    slot = f"{unique}_slot"
    pg_source.execute(f"create table {unique} (id int primary key, v text)")
    try:
        pg_source.execute("select pg_create_logical_replication_slot(%s, 'test_decoding')", [slot])
        pg_source.execute(f"insert into {unique} values (1, 'hello')")
        changes = [
            r[0]
            for r in pg_source.execute(
                "select data from pg_logical_slot_get_changes(%s, null, null)", [slot]
            )
        ]
        assert any(
            f"table public.{unique}: INSERT: id[integer]:1 v[text]:'hello'" in c for c in changes
        )
    finally:
        pg_source.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
            "where slot_name = %s",
            [slot],
        )
        pg_source.execute(f"drop table if exists {unique}")


def test_redis_set_get(redis_client: Any, unique: str) -> None:
    redis_client.set(f"{unique}:greeting", "héllo", ex=60)
    assert redis_client.get(f"{unique}:greeting") == "héllo".encode()
    assert 0 < redis_client.ttl(f"{unique}:greeting") <= 60


def test_clickhouse_replacing_merge_tree_final(clickhouse: Any, ch_database: str) -> None:
    table = f"{ch_database}.rows"
    clickhouse.command(
        f"CREATE TABLE {table} (id UInt64, name String, version UInt64, is_deleted UInt8) "
        "ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY id"
    )
    clickhouse.insert(
        table,
        [[1, "a", 1, 0], [2, "b", 1, 0]],
        column_names=["id", "name", "version", "is_deleted"],
    )
    clickhouse.insert(
        table,
        [[1, "a2", 3, 0], [1, "stale", 2, 0], [2, "b", 5, 1]],
        column_names=["id", "name", "version", "is_deleted"],
    )
    rows = clickhouse.query(f"SELECT id, name, version FROM {table} FINAL ORDER BY id").result_rows
    assert rows == [(1, "a2", 3)]
    assert clickhouse.command(f"SELECT count() FROM {table} FINAL") == 1
