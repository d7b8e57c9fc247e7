"""Schema drift while streaming, through the real connector (Avro via the registry, and JSON).

The worker runs the example topologies: orders propagates new columns, customers ignores them
(it masks PII; a new column is not carried unreviewed). Each source change is followed by DML
and its documented outcome (README "Schema drift") is checked in the PostgreSQL warehouse, the
output schema's versions in the registry, the worker's log and the dead-letter topics:

    ADD COLUMN nullable (orders)          propagated: new schema version, sink column, values
    ADD COLUMN ... DEFAULT (orders)       propagated, new rows carry the default
    ADD COLUMN (customers)                not carried, warned once, nothing else changes
    ALTER COLUMN TYPE numeric(16,2)       widening: values that fit flow, a wider one -> DLQ
    DROP COLUMN notes (orders)            every later orders event -> DLQ, says what to change
    RENAME COLUMN phone (customers)       the same, for the renamed column

The worker never stops, and every event is either in the sinks or in a DLQ.
"""

from __future__ import annotations

import json
from typing import Any

from shop_checks import converge
from shop_harness import ShopHarness, wait_until

SECRET_TAX_ID = "TAX-7f3e-SECRET"  # must never reach a sink, a topic or the log


def _dlq(shop: ShopHarness, base: str) -> list[dict[str, str]]:
    """The headers (decoded) of every record in a topology's dead-letter topic."""
    from confluent_kafka import Consumer, TopicPartition

    topic = shop.topologies[base].dlq_topic
    consumer = Consumer(
        {"bootstrap.servers": shop.settings.kafka_bootstrap, "group.id": f"{shop.name}-drift"}
    )
    out: list[dict[str, str]] = []
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return out
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), 10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while True:
                msg = consumer.poll(10)
                assert msg is not None, f"could not read {topic}[{p}]"
                if msg.error():
                    continue
                out.append({k: (v or b"").decode() for k, v in msg.headers() or ()})
                if msg.offset() >= high - 1:
                    break
    finally:
        consumer.close()
    return out


def _columns(shop: ShopHarness, base: str) -> list[str]:
    table = f"{shop.name}_{base}"
    rows = shop.warehouse.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r["column_name"] for r in rows]


def _row(shop: ShopHarness, base: str, key: int) -> dict[str, Any] | None:
    table = f"{shop.name}_{base}"
    found = shop.warehouse.execute(  # not prepared: the table gains columns meanwhile
        f'SELECT * FROM "{table}" WHERE id = %s', [key], prepare=False
    ).fetchone()
    return dict(found) if found is not None else None


def _versions(shop: ShopHarness, subject: str) -> list[dict[str, Any]]:
    import urllib.request

    base = shop.settings.registry_url.rstrip("/")
    with urllib.request.urlopen(f"{base}/subjects/{subject}/versions", timeout=10) as resp:
        numbers = json.load(resp)
    schemas = []
    for n in numbers:
        with urllib.request.urlopen(f"{base}/subjects/{subject}/versions/{n}", timeout=10) as r:
            schemas.append(json.loads(json.load(r)["schema"]))
    return schemas


def test_schema_drift_follows_the_documented_policy(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any
) -> None:
    s, src = shop.name, shop.source
    shop.create_schema()
    shop.write_topologies()
    work = shop.workload(7)
    work.populate(8, 12)
    shop.create_topics(kafka_admin)
    shop.start_worker()
    shop.register_connector()
    converge(shop, redis_client, "snapshot")
    customer, order, other = (
        src.execute(f"SELECT id FROM {s}.customers ORDER BY id LIMIT 1").fetchone()["id"],
        *(r["id"] for r in src.execute(f"SELECT id FROM {s}.orders ORDER BY id LIMIT 2")),
    )

    # ADD COLUMN (nullable) on orders: propagated
    src.execute(f"ALTER TABLE {s}.orders ADD COLUMN coupon text")
    src.execute(f"UPDATE {s}.orders SET coupon = 'SPRING-10' WHERE id = %s", [order])
    wait_until(
        lambda: (_row(shop, "orders", order) or {}).get("coupon") == "SPRING-10",
        what="the new column 'coupon' in the warehouse",
        timeout=90,
        tail=shop.worker_tail,
    )
    # ADD COLUMN with a default: new rows carry it
    src.execute(f"ALTER TABLE {s}.orders ADD COLUMN channel text NOT NULL DEFAULT 'web'")
    new_order = src.execute(
        f"INSERT INTO {s}.orders (customer_id, status, total) VALUES (%s, 'paid', -12.50) "
        "RETURNING id",
        [customer],
    ).fetchone()["id"]
    wait_until(
        lambda: (_row(shop, "orders", new_order) or {}).get("channel") == "web",
        what="the defaulted column 'channel' of a new order",
        timeout=60,
        tail=shop.worker_tail,
    )
    subject = f"{s}.warehouse.orders-value"
    fields = [[f["name"] for f in v["fields"]] for v in _versions(shop, subject)]
    assert "coupon" in fields[-1] and "channel" in fields[-1], fields
    assert "coupon" not in fields[0], fields  # the first version is the declared orders.avsc

    # ADD COLUMN on customers: not carried (the topology ignores new columns), warned
    src.execute(f"ALTER TABLE {s}.customers ADD COLUMN tax_id text")
    src.execute(
        f"UPDATE {s}.customers SET tax_id = %s, vip = NOT vip WHERE id = %s",
        [SECRET_TAX_ID, customer],
    )
    wait_until(
        lambda: "tax_id" in shop.log.read_text(errors="replace"),
        what="the warning about the undeclared column",
        timeout=60,
        tail=shop.worker_tail,
    )
    converge_customers_vip = src.execute(
        f"SELECT vip FROM {s}.customers WHERE id = %s", [customer]
    ).fetchone()["vip"]
    wait_until(
        lambda: (_row(shop, "customers", customer) or {}).get("vip") == int(converge_customers_vip),
        what="the customer update that came with the new column",
        timeout=60,
        tail=shop.worker_tail,
    )
    assert "tax_id" not in _columns(shop, "customers")

    # widening: numeric(12,2) -> numeric(16,2). A value that fits the declared decimal(12,2)
    # flows; a wider one goes to the DLQ with the column named.
    src.execute(f"ALTER TABLE {s}.orders ALTER COLUMN total TYPE numeric(16,2)")
    src.execute(f"UPDATE {s}.orders SET total = 1234.56 WHERE id = %s", [order])
    src.execute(f"UPDATE {s}.orders SET total = 12345678901234.56 WHERE id = %s", [other])
    wait_until(
        lambda: str((_row(shop, "orders", order) or {}).get("total")) == "1234.56",
        what="a widened column's value that fits",
        timeout=60,
        tail=shop.worker_tail,
    )
    wait_until(
        lambda: len(_dlq(shop, "orders")) == 1,
        what="the too-wide total in the DLQ",
        timeout=60,
        tail=shop.worker_tail,
    )
    wide = _dlq(shop, "orders")[0]
    assert "total" in wide["__connect.errors.exception.message"], wide

    # DROP COLUMN notes (declared by orders): refused per event, with what to do
    src.execute(f"ALTER TABLE {s}.orders DROP COLUMN notes")
    src.execute(f"UPDATE {s}.orders SET status = 'shipped' WHERE id = %s", [order])
    wait_until(
        lambda: len(_dlq(shop, "orders")) == 2,
        what="the post-DROP event in the DLQ",
        timeout=60,
        tail=shop.worker_tail,
    )
    dropped = _dlq(shop, "orders")[1]
    assert dropped["__connect.errors.exception.class.name"].endswith("SchemaDriftError")
    message = dropped["__connect.errors.exception.message"]
    assert "'notes'" in message and "Source.columns" in message and "dlq replay" in message

    # RENAME COLUMN phone -> mobile (customers): the same for the renamed column
    src.execute(f"ALTER TABLE {s}.customers RENAME COLUMN phone TO mobile")
    src.execute(f"UPDATE {s}.customers SET vip = NOT vip WHERE id = %s", [customer])
    wait_until(
        lambda: len(_dlq(shop, "customers")) == 1,
        what="the post-RENAME event in the DLQ",
        timeout=60,
        tail=shop.worker_tail,
    )
    renamed = _dlq(shop, "customers")[0]
    assert "'phone'" in renamed["__connect.errors.exception.message"]

    shop.assert_worker_running()
    log = shop.log.read_text(errors="replace")
    assert SECRET_TAX_ID not in log
    assert "propagated" in log
    for table in ("customers", "orders"):
        everything = shop.warehouse.execute(f'SELECT * FROM "{s}_{table}"').fetchall()
        assert SECRET_TAX_ID not in repr(everything)
    assert shop.stop_worker() == 0, shop.worker_tail()
