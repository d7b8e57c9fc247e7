"""`streamapp reconcile --repair` against the real connector: damaged sinks become MATCH again.

Each sink of the orders topology (PostgreSQL, the test's embedded chDB, Redis) gets rows
deleted, rows altered and stray rows added behind the worker's back. `--dry-run` prints the
plan and changes nothing; `--repair` re-reads the missing and altered keys through filtered
incremental snapshots, tombstones the strays and verifies until MATCH. With the worker stopped
(its chDB free to read) repair applies the re-read rows itself; with the worker running it waits
for the worker. Avro only: the converter changes nothing about signals or sinks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from psycopg import sql
from shop_checks import converge
from shop_harness import ShopHarness

from streamapp.reconcile.keyfilter import pack
from streamapp.transform.spec import PostgresSink, RedisSink

SEED = 20251202
avro_only = pytest.mark.parametrize("shop", ["avro"], indirect=True)
STRAY = 1_000_000  # stray keys: far above the generator's ids


def repair(shop: ShopHarness, *args: str) -> subprocess.CompletedProcess[str]:
    """`streamapp reconcile <orders> --repair --connector <the test's> <args>`, a subprocess."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamapp",
            "reconcile",
            f"{shop.name}_orders",
            "--repair",
            "--connector",
            shop.name,
            "--timeout",
            "180",
            *args,
        ],
        env=dict(shop.env, PYTHONWARNINGS="ignore"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(done.stdout, done.stderr)  # shown with -s: what a user sees
    return done


def plain(shop: ShopHarness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamapp", "reconcile", f"{shop.name}_orders", *args],
        env=dict(shop.env, PYTHONWARNINGS="ignore"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _counts(report: str) -> list[str]:
    """The report without its positions (the WAL moves on): verdicts, counts and keys."""
    return [ln for ln in report.splitlines() if "WAL" not in ln and "freshness" not in ln]


def _keys(shop: ShopHarness) -> list[int]:
    """Ids of orders the topology keeps (tests are filtered out), ascending."""
    rows = shop.source.execute(
        sql.SQL("SELECT id FROM {}.orders WHERE status <> 'test' ORDER BY id").format(
            sql.Identifier(shop.name)
        )
    ).fetchall()
    return [int(r["id"]) for r in rows]


def _chdb(shop: ShopHarness, *statements: str) -> None:
    """Run statements on the test's chDB directory in a subprocess (the worker is stopped)."""
    script = (
        "import sys\n"
        "from streamapp.sinks.clickhouse.connect import connect\n"
        f"client = connect({shop.env['STREAMAPP_CLICKHOUSE_DSN']!r})\n"
        "for q in sys.argv[1:]:\n"
        "    client.command(q, settings={'mutations_sync': 2})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *statements], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]


def damage_postgres(shop: ShopHarness, gone: list[int], altered: list[int]) -> None:
    table = shop.sink("orders", PostgresSink)
    name = sql.Identifier(table.schema, table.table)
    shop.warehouse.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(name), (gone,))
    shop.warehouse.execute(
        sql.SQL("UPDATE {} SET status = 'damaged', total = total + 1 WHERE id = ANY(%s)").format(
            name
        ),
        (altered,),
    )
    cols = [
        r["column_name"]
        for r in shop.warehouse.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s AND column_name <> 'id' ORDER BY ordinal_position",
            (table.schema, table.table),
        ).fetchall()
    ]
    shown = sql.SQL(", ").join(map(sql.Identifier, cols))
    for source in altered[:2]:  # two strays: copies of stored rows under unused keys
        shop.warehouse.execute(
            sql.SQL("INSERT INTO {} (id, {}) SELECT id + %s, {} FROM {} WHERE id = %s").format(
                name, shown, shown, name
            ),
            (STRAY, source),
        )


def damage_clickhouse(shop: ShopHarness, gone: list[int], altered: list[int]) -> None:
    table = f"`{shop.name}_orders`"
    ids = ", ".join(map(str, gone))
    changed = ", ".join(map(str, altered))
    _chdb(
        shop,
        f"ALTER TABLE {table} DELETE WHERE id IN ({ids})",
        f"ALTER TABLE {table} UPDATE status = 'damaged' WHERE id IN ({changed})",
        f"INSERT INTO {table} SELECT * REPLACE (id + {STRAY} AS id) "
        f"FROM (SELECT * FROM {table} FINAL WHERE id = {altered[-1]})",
    )


def damage_redis(shop: ShopHarness, client: Any, gone: list[int], altered: list[int]) -> None:
    template = shop.sink("orders", RedisSink).key_template
    key = lambda i: template.replace("{id}", str(i))  # noqa: E731
    client.delete(*[key(i) for i in gone])  # the version keys stay: missing rows
    for i in altered:
        client.hset(key(i), "status", "damaged")
    source = key(altered[0])
    stray = key(STRAY + 3)
    client.hset(stray, mapping=client.hgetall(source))
    client.set(stray + ":__version", client.get(source + ":__version"))
    client.set(key(STRAY + 4), json.dumps({"id": STRAY + 4}))  # written by hand, no version


def _setup(shop: ShopHarness, kafka_admin: Any, redis_client: Any) -> list[int]:
    shop.create_schema()
    shop.write_topologies()
    work = shop.workload(SEED)
    work.populate(20, 80)
    shop.create_topics(kafka_admin)
    shop.start_worker()
    shop.register_connector()
    for _ in range(40):
        work.step()
    converge(shop, redis_client, "initial snapshot and DML")
    keys = _keys(shop)
    assert len(keys) > 20
    return keys


@avro_only
def test_repair_turns_every_damaged_sink_into_match_without_a_worker(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any
) -> None:
    keys = _setup(shop, kafka_admin, redis_client)
    assert shop.stop_worker() == 0, shop.worker_tail()  # frees the chDB; repair applies rows
    run = keys[2:7]  # consecutive keys: re-read as one BETWEEN range
    gone, altered = [*run[:3], keys[-1]], [*run[3:], keys[10], keys[12]]
    damage_postgres(shop, gone, altered)
    damage_clickhouse(shop, gone, altered)
    damage_redis(shop, redis_client, gone, altered)
    before = plain(shop)
    assert before.returncode == 1, before.stdout + before.stderr
    assert before.stdout.count("DIFFERS") == 4, before.stdout  # 3 sinks and the result line

    planned = repair(shop, "--dry-run")
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert "no worker in the group" in planned.stdout
    want = f"re-snapshot {len(gone) + len(altered)} key(s) of {shop.name}.orders"
    assert want in planned.stdout, planned.stdout
    assert re.search(r'would signal \S+ where "id" BETWEEN \d+ AND \d+', planned.stdout)
    assert "stray key(s)" in planned.stdout and "dry run: nothing changed" in planned.stdout
    signals = shop.source.execute(f"SELECT count(*) AS n FROM {shop.name}.debezium_signal")
    assert signals.fetchone() == {"n": 0}  # nothing was signalled
    again = plain(shop)
    assert again.returncode == 1 and _counts(again.stdout) == _counts(before.stdout)

    done = repair(shop)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "result: MATCH, 3 of 3 sink(s)" in done.stdout
    assert "applying" in done.stdout  # the rows went through this process's pipeline
    for line in [ln for ln in done.stdout.splitlines() if "re-snapshotted" in ln]:
        tombs = int(re.search(r"([\d,]+) tombstone\(s\)", line)[1])  # type: ignore[index]
        assert tombs == (2 if "redis" in line else 1 if "clickhouse" in line else 2), line
    after = plain(shop)
    assert after.returncode == 0, after.stdout + after.stderr
    # a restarted worker goes on from the offsets repair committed, and stays equal
    shop.start_worker()
    converge(shop, redis_client, "repair and restart")


@avro_only
def test_repair_beside_a_running_worker(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any
) -> None:
    keys = _setup(shop, kafka_admin, redis_client)
    gone, altered = keys[1:4], keys[6:8]
    damage_postgres(shop, gone, altered)
    damage_redis(shop, redis_client, gone, altered)
    done = repair(shop, "--sinks", "postgres,redis")
    assert done.returncode == 0, done.stdout + done.stderr + shop.worker_tail()
    assert "applied by the running worker" in done.stdout
    assert "result: MATCH, 2 of 2 sink(s)" in done.stdout
    converge(shop, redis_client, "repair beside the worker")
    # the embedded chDB is the running worker's: repair says so and what to do, exit 2
    busy = repair(shop)
    assert busy.returncode == 2, busy.stdout + busy.stderr
    assert "is held by the running worker; stop the worker" in busy.stdout
    assert "postgres:public." in busy.stdout and "MATCH" in busy.stdout
    assert shop.stop_worker() == 0, shop.worker_tail()


@pytest.mark.parametrize(
    "keys",
    [
        [("a'b",), ("c\\d",), ("é",), ("x' OR 'a'='a",), ("--",), ('"q"',), ("",)],
        [(i,) for i in (1, 2, 3, 5, 8, 9, 10, 11, 40)],
    ],
)
def test_filters_select_exactly_their_keys_in_postgresql(
    stack: Any, keys: list[tuple[Any, ...]]
) -> None:
    kind = "text" if isinstance(keys[0][0], str) else "int"
    with psycopg.connect(stack.source_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TEMP TABLE k ("we""ird" {kind}, other int)')
        rows = [*keys, *([("zz",), ("a",), ("b'",)] if kind == "text" else [(4,), (12,), (0,)])]
        conn.cursor().executemany("INSERT INTO k VALUES (%s, 0)", rows)
        found: list[Any] = []
        for text, _ in pack(['we"ird'], sorted(keys), lambda f: len(f) <= 40):
            found += [r[0] for r in conn.execute(f'SELECT "we""ird" FROM k WHERE {text}')]
        assert sorted(found) == sorted(k[0] for k in keys)
