"""PostgreSQL -> real Debezium (Avro via the registry, and JSON) -> `streamapp worker` -> sinks.

Per converter: rows that exist before the connector starts arrive as a snapshot (op=r), then
the generator's mixed DML stream (multi-row transactions, key updates, deletes, NULLs, TOASTed
notes left unchanged, negative twelve-digit NUMERICs, timestamps with and without time zone,
JSONB) is applied. After each phase the PostgreSQL warehouse and Redis sinks must equal the
source tables as the topology itself maps them (``CompiledTopology.process`` on a read event
of every source row), masks included; nothing may reach a dead-letter topic.
"""

from __future__ import annotations

from typing import Any

from shop_checks import converge, dlq_size, read_events, reconcile
from shop_harness import TOPOLOGIES, ShopHarness

from streamapp.records import UNCHANGED, EventKind, Op

SEED = 20251124
PRE_EXISTING = {"customers": 30, "orders": 60}
STREAM_TRANSACTIONS = 400
TOAST_MIN = 2_000  # notes longer than this are stored out of line (STORAGE EXTERNAL)


def test_snapshot_then_dml_stream_reach_every_sink(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any
) -> None:
    shop.create_schema()
    shop.write_topologies()
    work = shop.workload(SEED)
    work.populate(PRE_EXISTING["customers"], PRE_EXISTING["orders"])
    for _ in range(20):  # some updates and deletes before the snapshot, too
        work.step()
    rows_at_snapshot = {
        base: len(shop.source.execute(f"SELECT 1 FROM {shop.name}.{base}").fetchall())
        for base in TOPOLOGIES
    }
    shop.create_topics(kafka_admin)
    shop.start_worker()
    shop.register_connector()

    converge(shop, redis_client, "snapshot")
    for base in TOPOLOGIES:
        events = read_events(shop, base)
        ops = [e.op for _raw, e in events if e.kind is EventKind.DATA]
        assert ops == [Op.READ] * rows_at_snapshot[base], f"{base}: snapshot events {ops[:10]}"
        raw = events[0][0]
        assert raw is not None
        if shop.converter == "avro":  # Confluent wire format: magic byte, 4-byte registry id
            assert raw[:1] == b"\x00" and len(raw) > 5
        else:  # JsonConverter with schemas.enable=true
            assert raw.startswith(b'{"schema":')

    for _ in range(STREAM_TRANSACTIONS):
        work.step()
    assert set(work.counts.by_kind) == set(work.kinds), sorted(work.counts.by_kind)
    converge(shop, redis_client, "DML stream")
    assert dlq_size(shop, kafka_admin) == 0, shop.worker_tail()

    # TOAST, as the schema sets it up: customers (REPLICA IDENTITY DEFAULT) get Debezium's
    # placeholder for unchanged out-of-line notes; orders (FULL) get the value itself.
    customer_updates = [e for _r, e in read_events(shop, "customers") if e.op is Op.UPDATE]
    assert any(e.after is not None and e.after["notes"] is UNCHANGED for e in customer_updates)
    order_updates = [e for _r, e in read_events(shop, "orders") if e.op is Op.UPDATE]
    assert any(
        e.after is not None and e.before is not None
        and isinstance(e.after["notes"], str) and len(e.after["notes"]) > TOAST_MIN
        and e.after["notes"] == e.before["notes"]
        for e in order_updates
    )  # fmt: skip
    assert shop.stop_worker() == 0, shop.worker_tail()

    # what a user runs to check it: source table vs every sink, through the topology's masks
    for base in TOPOLOGIES:
        done = reconcile(shop, base)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().splitlines()[-1].startswith("result: MATCH"), done.stdout
