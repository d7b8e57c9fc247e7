"""What the e2e tests compare: the topology's view of the source, the sinks' contents, topics.

Expected rows come from the topology itself: every source row becomes a snapshot read event
and goes through ``CompiledTopology.process`` (filters, masks, flattening, derivations), so
the comparison covers the transforms without restating them. Metadata columns (``__op``,
``__lsn``, ``__version``, ``__deleted``, ...) are left out on both sides: they describe the
event, not the row.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from shop_harness import TOPOLOGIES, ShopHarness, wait_until

from streamapp.decode import Decoder
from streamapp.records import ChangeEvent, EventKind, Op, SourceInfo
from streamapp.registry import SchemaRegistry
from streamapp.sinks.redis.types import scalar_text
from streamapp.sinks.values import to_json
from streamapp.transform.spec import PostgresSink, RedisSink

Rows = dict[tuple[Any, ...], dict[str, Any]]


def expected(shop: ShopHarness, base: str) -> Rows:
    """The topology's output for every row of the source table, by output key."""
    topology = shop.topologies[base]
    rows = shop.source.execute(
        sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(shop.name), sql.Identifier(base))
    ).fetchall()
    out: Rows = {}
    for row in rows:
        for record in topology.process(_read_event(shop.name, base, row)):
            out[record.key] = _data_columns(record.value)
    return out


def _read_event(schema: str, table: str, row: dict[str, Any]) -> ChangeEvent:
    after = {k: _utc(v) for k, v in row.items()}
    source = SourceInfo(
        "postgresql", "source", schema, table, 0, "true", 0, 0, None, None, None, None, None, {}
    )
    return ChangeEvent(EventKind.DATA, Op.READ, {"id": row["id"]}, None, after, source, 0, None, 0)


def postgres_rows(shop: ShopHarness, base: str) -> Rows:
    """Live rows of the PostgreSQL sink table (tombstones left out), by key."""
    table = shop.sink(base, PostgresSink)
    query = sql.SQL("SELECT * FROM {}.{} WHERE NOT __deleted").format(
        sql.Identifier(table.schema), sql.Identifier(table.table)
    )
    try:
        rows = shop.warehouse.execute(query).fetchall()
    except psycopg.errors.UndefinedTable:  # the worker has not created it yet
        return {}
    return {(r["id"],): _data_columns(r) for r in rows}


def redis_rows(shop: ShopHarness, client: Any, base: str) -> Rows:
    """Values of the Redis sink as stored: JSON documents parsed, hashes as text fields."""
    out: Rows = {}
    for key in shop.redis_keys(client, base):
        kind = client.type(key)
        if kind == b"string":
            doc = json.loads(client.get(key))
        elif kind == b"hash":
            doc = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
        else:
            continue
        out[(int(key.decode().rsplit(":", 1)[1]),)] = _data_columns(doc)
    return out


def in_redis_form(shop: ShopHarness, base: str, rows: Rows) -> Rows:
    """``rows`` as the Redis sink stores them: canonical JSON, or hash text of the non-nulls."""
    if shop.sink(base, RedisSink).format == "hash":
        return {
            k: {c: scalar_text(v) for c, v in row.items() if v is not None}
            for k, row in rows.items()
        }
    return {k: json.loads(to_json(row)) for k, row in rows.items()}


def read_events(shop: ShopHarness, table: str) -> list[tuple[bytes | None, ChangeEvent]]:
    """Every record now in ``table``'s change topic: (raw value, decoded event)."""
    from confluent_kafka import Consumer, TopicPartition

    topic = shop.topic(table)
    consumer = Consumer(
        {
            "bootstrap.servers": shop.settings.kafka_bootstrap,
            "group.id": f"{shop.name}-reader",  # assign() only: nothing is committed
            "enable.auto.commit": False,
        }
    )
    registry = SchemaRegistry(shop.settings.registry_url, settings=shop.settings)
    decoder = Decoder(resolver=registry)
    out = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        left = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            part, offset = msg.partition() or 0, msg.offset() or 0
            if offset < ends[part]:
                event = decoder.decode(
                    msg.key(), msg.value(), topic=topic, partition=part, offset=offset
                )
                out.append((msg.value(), event))
            if offset >= ends[part] - 1:
                left.discard(part)
    finally:
        consumer.close()
        registry.close()
    assert not left, f"could not read {topic} to its end"
    return out


def dlq_size(shop: ShopHarness, admin: Any) -> int:
    """Records in the topologies' dead-letter topics (0 when a topic does not exist)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": shop.settings.kafka_bootstrap, "group.id": f"{shop.name}-dlq"}
    )
    total = 0
    try:
        existing = admin.list_topics(timeout=10).topics
        for topology in shop.topologies.values():
            meta = existing.get(topology.dlq_topic)
            for p in meta.partitions if meta is not None else ():
                tp = TopicPartition(topology.dlq_topic, p)
                low, high = consumer.get_watermark_offsets(tp, 10)
                total += high - low
    finally:
        consumer.close()
    return total


def _data_columns(row: Any) -> dict[str, Any]:
    """A row without the metadata columns (``__op``, ``__lsn``, ``__version``, ...)."""
    return {k: v for k, v in row.items() if not k.startswith("__")}


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value


def _diff(want: dict[Any, Any], got: dict[Any, Any]) -> str:
    missing = sorted(set(want) - set(got))[:5]
    extra = sorted(set(got) - set(want))[:5]
    changed = [k for k in sorted(set(want) & set(got)) if want[k] != got[k]]
    lines = [f"missing {missing}", f"unexpected {extra}", f"differing keys {changed[:5]}"]
    for k in changed[:2]:
        cols = [c for c in want[k] if want[k].get(c) != got[k].get(c)]
        lines.append(f"  {k}: {[(c, want[k].get(c), got[k].get(c)) for c in cols]}")
    return "\n".join(lines)


def converge(shop: ShopHarness, redis_client: Any, phase: str) -> None:
    """Wait until every sink of every topology equals the source through the topology."""
    want = {base: expected(shop, base) for base in TOPOLOGIES}
    in_redis = {base: in_redis_form(shop, base, want[base]) for base in TOPOLOGIES}
    report: list[str] = []

    def equal() -> bool:
        shop.assert_worker_running()
        report.clear()
        for base in TOPOLOGIES:
            pg = postgres_rows(shop, base)
            if pg != want[base]:
                report.append(f"{base} PostgreSQL:\n{_diff(want[base], pg)}")
            cached = redis_rows(shop, redis_client, base)
            if cached != in_redis[base]:
                report.append(f"{base} Redis:\n{_diff(in_redis[base], cached)}")
        return not report

    wait_until(
        equal,
        what=f"the sinks to equal the source after the {phase}",
        timeout=120,
        tail=lambda: "\n".join(report) + "\n" + shop.worker_tail(),
    )
    assert all(want.values()), f"{phase}: a topology produced no rows at all"


def reconcile(shop: ShopHarness, base: str) -> subprocess.CompletedProcess[str]:
    """`streamapp reconcile` of one topology, run like a user would (worker stopped: it holds
    the test's embedded chDB while it runs)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamapp",
            "reconcile",
            f"{shop.name}_{base}",
            "--slot",
            shop.name,
        ],
        env=shop.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (shop.tmp / f"reconcile_{base}.txt").write_text(done.stdout + done.stderr)
    return done
