"""A column added at the source, propagated by a running worker into ClickHouse and PostgreSQL.

The topology says ``Source(new_columns="propagate")``; events of a grown writer schema (one more
column) arrive while the worker runs. The output schema gains a version with the column, the
ClickHouse and PostgreSQL tables gain it (ALTER), rows carry its values, nothing reaches the
DLQ; a restart with the unchanged topology module converges to the same schema version.

Events of the *older* writer schema still in flight on other partitions after the column was
propagated are history, not a drop: they are stored (the column left as stored), never sent to
the DLQ. `streamapp reconcile` compares propagated columns too (it learns them from the output
schema the worker registered).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema
from worker_harness import COLUMNS, WorkerHarness, committed_lag, consume_all, wait_until

from streamapp.synth import Table


def _grown(h: WorkerHarness, registry_client: Any) -> tuple[Table, int, Any]:
    table = Table(h.unique, {**COLUMNS, "tier": "string"}, ["id"], server="it", schema="public")
    schema_id = registry_client.register_schema(
        f"{h.topic}-value", Schema(json.dumps(table.value_schema), "AVRO")
    )
    return table, schema_id, fastavro.parse_schema(table.value_schema)


def _produce(
    h: WorkerHarness,
    writer: tuple[Table, int, Any],
    row: dict[str, Any],
    *,
    lsn: int,
    partition: int,
    op: str = "c",
) -> None:
    """One change written with ``writer`` (table, schema id, parsed schema) to ``partition``."""
    table, schema_id, parsed = writer
    key = h._avro(h._key_schema, h._key_id, table.key_of(row))
    value = h._avro(
        parsed, schema_id, table.event(op, after=row, lsn=lsn, previous_commit_lsn=lsn - 1)
    )
    h._producer.produce(h.topic, key=key, value=value, partition=partition)


def _old(h: WorkerHarness) -> tuple[Table, int, Any]:
    return h.source, h._value_id, h._value_schema


def _send_grown(
    h: WorkerHarness, grown: tuple[Table, int, Any], row: dict[str, Any], lsn: int
) -> None:
    table, schema_id, parsed = grown
    key = h._avro(h._key_schema, h._key_id, table.key_of(row))
    value = h._avro(
        parsed, schema_id, table.event("c", after=row, lsn=lsn, previous_commit_lsn=lsn - 1)
    )
    h.send_raw(key, value)


def _clickhouse(h: WorkerHarness) -> list[list[Any]]:
    script = textwrap.dedent(f"""
        import json, clickhouse_connect
        c = clickhouse_connect.get_client(dsn="chdb://{h.chdb}")
        rows = c.query('SELECT id, tier FROM `{h.table}` FINAL ORDER BY id').result_rows
        print(json.dumps([list(r) for r in rows]))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_new_source_column_is_propagated_to_every_sink(
    harness: WorkerHarness, registry_client: Any, pg_warehouse: Any
) -> None:
    h = harness
    module = h.tmp / "topologies" / f"{h.unique}.py"
    module.write_text(module.read_text().replace("columns=", 'new_columns="propagate", columns='))
    h.start()
    h.send("c", lsn=10, after={"id": 1, "email": "a@x.io", "amount": "1.50", "qty": "2"})
    h.flush()
    consume_all(h.settings, h.output, expect=1)

    grown = _grown(h, registry_client)
    _send_grown(h, grown, {"id": 2, "email": "b@x.io", "qty": "3", "tier": "gold"}, lsn=20)
    h.flush()
    consume_all(h.settings, h.output, expect=2)

    def pg_tier() -> dict[int, Any]:
        try:
            rows = pg_warehouse.execute(f'SELECT id, tier FROM "{h.table}" ORDER BY id').fetchall()
        except Exception:  # noqa: BLE001 - the column may not exist yet
            return {}
        return dict(rows)

    wait_until(lambda: pg_tier() == {1: None, 2: "gold"}, what="tier in PostgreSQL", harness=h)
    assert h.stop() == 0
    assert _clickhouse(h) == [[1, None], [2, "gold"]]
    versions = registry_client.get_versions(f"{h.output}-value")
    latest = json.loads(registry_client.get_latest_version(f"{h.output}-value").schema.schema_str)
    assert len(versions) == 2 and "tier" in [f["name"] for f in latest["fields"]]

    # restart with the module unchanged: the column is re-discovered, nothing new registered
    h.start()
    _send_grown(h, grown, {"id": 3, "email": "c@x.io", "qty": "4", "tier": "silver"}, lsn=30)
    h.flush()
    consume_all(h.settings, h.output, expect=3)
    wait_until(lambda: pg_tier().get(3) == "silver", what="tier after a restart", harness=h)
    assert h.stop() == 0
    assert _clickhouse(h) == [[1, None], [2, "gold"], [3, "silver"]]
    assert len(registry_client.get_versions(f"{h.output}-value")) == 2
    assert "propagated" in h.log.read_text()


def _propagating(h: WorkerHarness) -> None:
    module = h.tmp / "topologies" / f"{h.unique}.py"
    module.write_text(module.read_text().replace("columns=", 'new_columns="propagate", columns='))


def _pg(h: WorkerHarness, pg_warehouse: Any) -> dict[int, tuple[Any, ...]]:
    """id -> (qty, tier) of the PostgreSQL sink's live rows ({} before the column exists)."""
    try:
        rows = pg_warehouse.execute(
            f'SELECT id, qty, tier FROM "{h.table}" WHERE NOT __deleted ORDER BY id'
        ).fetchall()
    except Exception:  # noqa: BLE001 - the table or the column may not exist yet
        return {}
    return {r[0]: tuple(r[1:]) for r in rows}


def _dlq_count(h: WorkerHarness) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": h.settings.kafka_bootstrap, "group.id": h.unique})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(h.dlq, 0), timeout=10)
        return int(high - low)
    finally:
        consumer.close()


def test_older_writer_schema_in_flight_after_a_propagation_is_history_not_a_drop(
    harness: WorkerHarness, registry_client: Any, pg_warehouse: Any, redis_client: Any
) -> None:
    """The race seen with real Debezium on a 3-partition topic (issue 16, item 12)."""
    h = harness
    _propagating(h)
    h.start()
    old, grown = _old(h), _grown(h, registry_client)
    _produce(h, old, {"id": 1, "email": "a@x.io", "qty": "1"}, lsn=10, partition=1)
    h.flush()
    wait_until(lambda: 1 in h.pg_rows(pg_warehouse), what="row 1", harness=h)

    # partition 0 gets the first events of the grown writer schema: 'tier' is propagated
    _produce(
        h, grown, {"id": 2, "email": "b@x.io", "qty": "2", "tier": "gold"}, lsn=20, partition=0
    )
    _produce(
        h, grown, {"id": 5, "email": "e@x.io", "qty": "5", "tier": "bronze"}, lsn=21, partition=0
    )
    h.flush()
    wait_until(
        lambda: _pg(h, pg_warehouse).get(5) == (5, "bronze"), what="tier propagated", harness=h
    )

    # then partition 1's events of the older writer schema, still in flight: history
    _produce(h, old, {"id": 1, "email": "a@x.io", "qty": "7"}, lsn=15, partition=1, op="u")
    _produce(h, old, {"id": 3, "email": "c@x.io", "qty": "3"}, lsn=16, partition=1)
    # a later change of key 5 without the column (as after the topic gained partitions, or a
    # DROP of the propagated column): it must not overwrite the stored value with NULL
    _produce(h, old, {"id": 5, "email": "e@x.io", "qty": "50"}, lsn=30, partition=1, op="u")
    h.flush()
    wait_until(lambda: committed_lag(h) == 0, what="every event committed", harness=h)

    want = {1: (7, None), 2: (2, "gold"), 3: (3, None), 5: (50, "bronze")}
    assert _dlq_count(h) == 0, h.log_tail()
    assert _pg(h, pg_warehouse) == want
    redis = h.redis_rows(redis_client)
    assert {i: (r["qty"], r.get("tier")) for i, r in redis.items()} == want
    assert h.stop() == 0
    assert _clickhouse(h) == [[1, None], [2, "gold"], [3, None], [5, "bronze"]]


def test_reconcile_compares_propagated_columns(
    harness: WorkerHarness, registry_client: Any, pg_warehouse: Any, pg_source: Any
) -> None:
    h = harness
    _propagating(h)
    h.start()
    rows = [
        {"id": 1, "email": "a@x.io", "amount": "1.50", "qty": "1", "tier": None},
        {"id": 2, "email": "b@x.io", "amount": "2.50", "qty": "2", "tier": "gold"},
        {"id": 3, "email": "c@x.io", "amount": "3.50", "qty": "3", "tier": "silver"},
    ]
    old, grown = _old(h), _grown(h, registry_client)
    _produce(h, old, rows[0], lsn=10, partition=0)
    for i, row in enumerate(rows[1:]):
        _produce(h, grown, row, lsn=20 + i, partition=0)
    h.flush()
    wait_until(
        lambda: _pg(h, pg_warehouse) == {1: (1, None), 2: (2, "gold"), 3: (3, "silver")},
        what="the rows with tier in PostgreSQL",
        harness=h,
    )
    assert h.stop() == 0

    pg_source.execute(
        f"CREATE TABLE public.{h.table} (id bigint PRIMARY KEY, email text, "
        "amount numeric(10,2), qty text, note text, updated_at timestamp, "
        "score double precision, tier text)"
    )
    try:
        for row in rows:
            pg_source.execute(
                f"INSERT INTO public.{h.table} (id, email, amount, qty, tier) "
                "VALUES (%s, %s, %s, %s, %s)",
                [row["id"], row["email"], row["amount"], row["qty"], row["tier"]],
            )

        def reconcile() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "streamapp", "reconcile", h.unique],
                env=h.env,
                capture_output=True,
                text=True,
                timeout=180,
            )

        matching = reconcile()
        assert matching.returncode == 0, matching.stdout + matching.stderr
        pg_warehouse.execute(f"UPDATE \"{h.table}\" SET tier = 'platinum' WHERE id = 3")
        differing = reconcile()
        assert differing.returncode == 1, differing.stdout + differing.stderr
        assert "id=3 (tier)" in differing.stdout, differing.stdout
        assert (
            "propagated by the worker (from the registered output schema), compared too: tier"
            in matching.stdout
        )
    finally:
        pg_source.execute(f"DROP TABLE IF EXISTS public.{h.table}")
