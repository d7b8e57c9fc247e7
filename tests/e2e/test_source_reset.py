"""A source-side reset converges and shows: the connector is deleted, its replication slot
dropped, rows change meanwhile, and the connector comes back on a new slot with
``snapshot.mode=always`` (it re-reads every row). The running worker stores the re-read rows
over what it had (versions order them), the sinks equal the source, reconcile says MATCH, and
`streamapp status` shows the re-snapshot the worker saw (snapshot reads after streamed
changes). No deletes while the connector is away: a snapshot has no deletes to re-send
(README "Self-healing").
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Any

import pytest
from shop_checks import converge, dlq_size
from shop_harness import ShopHarness, connect_rest, wait_until

SEED = 20261203


def inserts_and_updates(work: Any, n: int) -> None:
    actions = [work.new_customer, work.update_customer, work.place_order, work.advance_order]
    for i in range(n):
        with work.conn.transaction():
            actions[i % len(actions)]()


def drop_slot(shop: ShopHarness, slot: str) -> None:
    def dropped() -> bool:
        row = shop.source.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone()
        if row is None:
            return True
        if not row["active"]:
            shop.source.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        return False

    wait_until(dropped, what=f"replication slot {slot} dropped", timeout=60)


@pytest.mark.parametrize("shop", ["avro"], indirect=True)
def test_connector_recreated_on_a_new_slot_converges_and_shows(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any
) -> None:
    shop.create_schema()
    shop.write_topologies()
    work = shop.workload(SEED)
    work.populate(15, 30)
    shop.create_topics(kafka_admin)
    shop.start_worker()
    shop.register_connector()
    for _ in range(40):
        work.step()
    converge(shop, redis_client, "initial snapshot and DML")

    # The reset: connector gone, slot dropped, rows change with nobody capturing them.
    connect_rest("DELETE", f"/connectors/{shop.name}")
    drop_slot(shop, shop.name)
    inserts_and_updates(work, 30)
    new_slot = f"{shop.name}_b"
    config = dict(shop.connector_config(), **{"slot.name": new_slot, "snapshot.mode": "always"})
    try:
        connect_rest("PUT", f"/connectors/{shop.name}/config", config)
        wait_until(shop._connector_running, what="the re-created connector", timeout=90)
        for _ in range(20):  # streaming goes on after the re-read
            work.step()
        converge(shop, redis_client, "the connector's re-snapshot")
        assert dlq_size(shop, kafka_admin) == 0, shop.worker_tail()
        log = shop.log.read_text(errors="replace")
        for base in ("customers", "orders"):
            assert f"topology {shop.name}_{base}: snapshot reads (op=r) after streamed" in log, (
                shop.worker_tail(60)
            )
        assert shop.stop_worker() == 0, shop.worker_tail()

        status = subprocess.run(
            [sys.executable, "-m", "streamapp", "status"],
            env=shop.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        print(status.stdout)
        assert status.stdout.count("resnapshot: re-snapshot seen: snapshot reads (op=r)") == 2
        for base in ("customers", "orders"):
            done = subprocess.run(
                [sys.executable, "-m", "streamapp", "reconcile", f"{shop.name}_{base}"],
                env=shop.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.strip().splitlines()[-1].startswith("result: MATCH"), done.stdout
    finally:
        with contextlib.suppress(Exception):  # already gone; the harness tries again
            connect_rest("DELETE", f"/connectors/{shop.name}")
        drop_slot(shop, new_slot)
