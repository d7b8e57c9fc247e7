"""Orders from real Debezium into PostgreSQL, OpenSearch and Iceberg at once, through a SIGKILL.

The generator runs the shop workload (inserts, updates, primary-key updates, deletes,
multi-row transactions) while the worker, writing one orders topology to the three sinks
(Iceberg committing every 2 s), is SIGKILLed mid-stream and restarted. Once the stream has
drained (the PostgreSQL sink equals the source through the topology and the group's committed
offsets are at the topic's ends), ``streamapp reconcile`` must say MATCH with nothing missing,
extra or differing in each of the three sinks, and a DuckDB query over the Iceberg table's live
rows must equal the PostgreSQL sink's ``_current`` view. Then one source transaction inserts an
order carrying a unique word in its notes, and a full-text ``match`` and a filter query on
OpenSearch must both find it; the seconds from the source commit are printed (a figure only).
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from destinations_harness import (
    drop_destinations,
    iceberg_columns,
    iceberg_live,
    opensearch,
    orders_lag,
    postgres_current,
    write_topology,
)
from psycopg import sql
from shop_checks import dlq_size, expected, postgres_rows, reconcile
from shop_harness import ShopHarness, wait_until
from test_e2e_restart import SEED, Generator

SEARCHABLE_WITHIN = 120.0  # a functional bound: the figure printed is what matters


class Load(Generator):
    """The restart test's generator, which can also be halted in a clean-up."""

    def halt(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)


def sink_counts(report: str, sink: str) -> tuple[str, list[int]]:
    """A sink block's verdict and its (expected, in sink, missing, extra, differing)."""
    lines = report.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(sink + "  "))
    numbers = [int(n.replace(",", "")) for n in lines[at + 2].split()]
    return lines[at].split()[-1], numbers


def drain(shop: ShopHarness) -> float:
    """Wait until the PostgreSQL sink equals the source through the topology, then until the
    group's committed offsets are at the orders topic's ends; the seconds it took."""
    began = time.monotonic()
    want = expected(shop, "orders")
    assert want, "the topology produced no rows at all"
    wait_until(
        lambda: shop.assert_worker_running() or postgres_rows(shop, "orders") == want,
        what="the PostgreSQL sink to equal the source",
        timeout=180,
        tail=shop.worker_tail,
    )
    wait_until(
        lambda: orders_lag(shop) == 0,
        what="the group's committed offsets at the orders topic's ends",
        timeout=120,
        tail=shop.worker_tail,
    )
    return time.monotonic() - began


def probe(shop: ShopHarness) -> tuple[float, float]:
    """Insert one order with a unique word in its notes in one source transaction; poll a
    ``match`` on notes and a filter (term on ``notes.raw``, range on ``total``) until both
    find it. The seconds from the commit to each query's first hit."""
    word = f"zephyrprobe{uuid.uuid4().hex[:10]}"
    note = f"gift wrap, leave at the door {word} thanks"
    total = Decimal("4321.09")
    table = sql.Identifier(shop.name, "orders")
    with shop.source.transaction():
        row = shop.source.execute(
            sql.SQL(
                "INSERT INTO {} (status, total, currency, items, shipping, placed_at, notes) "
                "VALUES ('paid', %s, 'EUR', '[]', NULL, now(), %s) RETURNING id"
            ).format(table),
            (total, note),
        ).fetchone()
    committed = time.monotonic()
    assert row is not None
    index = f"{shop.name}_orders"
    queries = {
        "match": {"match": {"notes": word}},
        "filter": {
            "bool": {
                "filter": [
                    {"term": {"notes.raw": note}},
                    {"range": {"total": {"gte": float(total), "lte": float(total)}}},
                ]
            }
        },
    }
    found: dict[str, float] = {}
    client = opensearch(shop)
    try:
        while len(found) < len(queries):
            elapsed = time.monotonic() - committed
            assert elapsed < SEARCHABLE_WITHIN, f"not searchable: {sorted(found)}\n" + (
                shop.worker_tail()
            )
            for name, query in queries.items():
                if name in found:
                    continue
                hits = client.search(index=index, body={"query": query})["hits"]["hits"]
                if hits:
                    assert [h["_id"] for h in hits] == [str(row["id"])], hits
                    assert hits[0]["_source"]["notes"] == note
                    found[name] = time.monotonic() - committed
            time.sleep(0.1)
    finally:
        client.close()
    return found["match"], found["filter"]


@pytest.mark.parametrize("shop", ["avro"], indirect=True)
def test_orders_reach_postgres_opensearch_and_iceberg_through_a_sigkill(
    shop: ShopHarness, kafka_admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a SIGKILLed worker holds its partitions until its session times out (Faust: 60 s)
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "10")
    monkeypatch.setenv("BROKER_HEARTBEAT_INTERVAL", "3")
    monkeypatch.setenv("STREAMAPP_ICEBERG_COMMIT_INTERVAL", "2")
    monkeypatch.setenv("STREAMAPP_ICEBERG_WAREHOUSE", str(tmp_path / "iceberg"))
    started = time.monotonic()
    gen: Load | None = None
    try:
        shop.create_schema()
        write_topology(shop)
        shop.workload(SEED).populate(20, 40)
        shop.create_topics(kafka_admin)
        shop.start_worker()
        shop.register_connector()
        wait_until(
            lambda: shop.assert_worker_running() or len(postgres_rows(shop, "orders")) >= 30,
            what="the snapshot in the PostgreSQL sink",
            timeout=180,
            tail=shop.worker_tail,
        )
        gen = Load(shop)
        gen.start()
        gen.advance(100)
        assert shop.kill_worker() == -9  # SIGKILL: no flush, no offset commit, no snapshot
        gen.advance(60)
        shop.start_worker()
        gen.advance(100)
        gen.stop()
        kinds = gen.work.counts.by_kind
        assert kinds.get("rekey_order", 0) and kinds.get("delete_order", 0), kinds
        drained = drain(shop)

        done = reconcile(shop, "orders")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "result: MATCH, 3 of 3 sink(s)" in done.stdout, done.stdout
        counts = {}
        for spec in shop.topologies["orders"].sinks:
            verdict, numbers = sink_counts(done.stdout, str(spec))
            assert verdict == "MATCH" and numbers[2:] == [0, 0, 0], done.stdout
            assert numbers[0] == numbers[1] > 0, done.stdout
            counts[spec.kind] = numbers[1]

        cols, pg = postgres_current(shop)
        in_lake = set(iceberg_columns(shop))
        assert {c for c in cols if not c.startswith("__")} <= in_lake, (cols, in_lake)
        shared = [c for c in cols if c in in_lake]
        lake = iceberg_live(shop, shared)
        pg_rows = [tuple(r[cols.index(c)] for c in shared) for r in pg]
        assert sorted(lake, key=repr) == sorted(pg_rows, key=repr), _first_difference(
            shared, pg_rows, lake
        )

        to_match, to_filter = probe(shop)
        assert dlq_size(shop, kafka_admin) == 0, shop.worker_tail()
        assert shop.stop_worker() == 0, shop.worker_tail()
        print(
            f"\ndestinations e2e: {gen.steps} transactions, {gen.work.counts.changes} row "
            f"changes ({_kinds(kinds)}), 1 SIGKILL + restart; drained in {drained:.1f} s; "
            f"reconcile MATCH in {', '.join(f'{k} {n} rows' for k, n in counts.items())}; "
            f"DuckDB over Iceberg = PostgreSQL current view ({len(pg)} rows x {len(shared)} "
            f"columns); source commit to searchable: match {to_match:.2f} s, filter "
            f"{to_filter:.2f} s; whole test {time.monotonic() - started:.0f} s"
        )
    finally:
        if gen is not None:
            gen.halt()
        shop.stop_worker()
        drop_destinations(shop)


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))


def _first_difference(cols: list[str], want: list[Any], got: list[Any]) -> str:
    by_id_want = {r[cols.index("id")]: r for r in want}
    by_id_got = {r[cols.index("id")]: r for r in got}
    missing = sorted(set(by_id_want) - set(by_id_got))[:5]
    extra = sorted(set(by_id_got) - set(by_id_want))[:5]
    lines = [f"{len(want)} PostgreSQL vs {len(got)} Iceberg rows; missing {missing} extra {extra}"]
    for key in sorted(set(by_id_want) & set(by_id_got)):
        a, b = by_id_want[key], by_id_got[key]
        if a != b:
            diff = [(c, x, y) for c, x, y in zip(cols, a, b, strict=True) if x != y]
            lines.append(f"id={key}: {diff}"[:600])
            if len(lines) > 4:
                break
    return "\n".join(lines)
