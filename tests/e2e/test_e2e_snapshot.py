"""`streamapp snapshot` against the real connector: an incremental snapshot re-delivers the rows
(op r, source.snapshot=incremental) and every sink still equals the source; refusals are one line.

Avro only (the converter does not change what the signal or the snapshot does). The command
runs as a subprocess, as a user would run it, against the test's own connector.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from typing import Any

import pytest
from shop_checks import converge, dlq_size, read_events
from shop_harness import ShopHarness

from streamapp.records import EventKind, Op

SEED = 20251125
avro_only = pytest.mark.parametrize("shop", ["avro"], indirect=True)


def snapshot(
    shop: ShopHarness, *args: str, connector: str = ""
) -> subprocess.CompletedProcess[str]:
    """`streamapp snapshot <args> --connector <connector, default the test's>`, a subprocess."""
    env = dict(shop.env, PYTHONWARNINGS="ignore")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "streamapp",
            "snapshot",
            *args,
            "--connector",
            connector or shop.name,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _rows(shop: ShopHarness, table: str) -> int:
    row = shop.source.execute(f"SELECT count(*) AS n FROM {shop.name}.{table}").fetchone()
    assert row is not None
    return int(row["n"])


def _incremental(shop: ShopHarness, table: str) -> list[Any]:
    return [
        e
        for _raw, e in read_events(shop, table)
        if e.kind is EventKind.DATA and e.source is not None and e.source.snapshot == "incremental"
    ]


@avro_only
def test_incremental_snapshot_redelivers_rows_and_sinks_stay_equal(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any
) -> None:
    shop.create_schema()
    shop.write_topologies()
    work = shop.workload(SEED)
    work.populate(25, 60)
    shop.create_topics(kafka_admin)
    shop.start_worker()
    shop.register_connector()
    for _ in range(80):  # streamed DML on top of the initial snapshot
        work.step()
    converge(shop, redis_client, "initial snapshot and DML")

    # A quiet source: every row is re-delivered exactly once. One table by name, one through
    # its topology (whose source topic is the connector's <prefix>.<schema>.customers).
    orders, customers = _rows(shop, "orders"), _rows(shop, "customers")
    done = snapshot(shop, f"{shop.name}.orders", f"{shop.name}_customers", "--wait")
    print(done.stdout)  # shown with -s: what a user sees
    assert done.returncode == 0, done.stdout + done.stderr
    assert "execute-snapshot signal streamapp-" in done.stdout
    assert f"for {shop.name}.orders, {shop.name}.customers" in done.stdout
    total = re.search(
        r"snapshot done: ([\d,]+) rows \((.*)\) re-delivered in [\d.]+ s", done.stdout
    )
    assert total, done.stdout
    assert int(total[1].replace(",", "")) == orders + customers, done.stdout
    assert f"{shop.name}.orders {orders:,}" in total[2], done.stdout

    events = _incremental(shop, "orders")
    assert len(events) == orders
    assert {e.op for e in events} == {Op.READ}
    assert len({e.key["id"] for e in events if e.key is not None}) == orders
    assert len(_incremental(shop, "customers")) == customers
    converge(shop, redis_client, "incremental snapshot")
    assert dlq_size(shop, kafka_admin) == 0, shop.worker_tail()

    # While the generator keeps changing rows: the snapshot's reads and the streamed changes
    # interleave, and the versions make the sinks converge to the source anyway.
    stop = threading.Event()

    def generate() -> None:
        while not stop.is_set():
            work.step()

    writer = threading.Thread(target=generate, daemon=True)
    writer.start()
    try:
        again = snapshot(shop, f"{shop.name}.orders", "--wait")
    finally:
        stop.set()
        writer.join(30)
    print(again.stdout)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "snapshot done:" in again.stdout
    converge(shop, redis_client, "incremental snapshot during DML")
    assert dlq_size(shop, kafka_admin) == 0, shop.worker_tail()
    assert shop.stop_worker() == 0, shop.worker_tail()


@avro_only
def test_snapshot_refuses_with_one_line(shop: ShopHarness) -> None:
    shop.create_schema()
    shop.write_topologies()
    shop.register_connector()
    cases = {
        (f"{shop.name}.nope", ""): f"table {shop.name}.nope does not exist in database",
        (f"{shop.name}.debezium_heartbeat", ""): f"table {shop.name}.debezium_heartbeat is not "
        f"captured by connector '{shop.name}'",
        ("no_such_topology", ""): "no topology named 'no_such_topology'",
        (f"{shop.name}.orders", "nope"): "has no connector 'nope'",
    }
    for (*args, connector), message in cases.items():
        done = snapshot(shop, *args, connector=connector)
        assert done.returncode != 0, (args, done.stdout)
        lines = [  # the local dev mask key's one-time warning (issue 16 item 8) aside
            ln
            for ln in done.stderr.strip().splitlines()
            if not ln.startswith("STREAMAPP_MASK_SECRET is unset")
        ]
        assert len(lines) == 1 and message in lines[0], (args, done.stderr)
        assert "Traceback" not in done.stderr
    signals = shop.source.execute(f"SELECT count(*) AS n FROM {shop.name}.debezium_signal")
    row = signals.fetchone()
    assert row is not None and row["n"] == 0  # refused before writing anything


def test_snapshot_refuses_when_connect_is_unreachable() -> None:
    env = dict(os.environ, STREAMAPP_CONNECT_URL="http://127.0.0.1:9", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-m", "streamapp", "snapshot", "public.orders"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: Kafka Connect at http://127.0.0.1:9 is unreachable")
    assert len(done.stderr.strip().splitlines()) == 1
