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

from shop_checks import (
    dlq_size,
    expected,
    in_redis_form,
    postgres_rows,
    read_events,
    redis_rows,
)
from shop_harness import TOPOLOGIES, ShopHarness, wait_until

from streamapp.records import UNCHANGED, EventKind, Op

SEED = 20251124
PRE_EXISTING = {"customers": 30, "orders": 60}
STREAM_TRANSACTIONS = 400
TOAST_MIN = 2_000  # notes longer than this are stored out of line (STORAGE EXTERNAL)


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
