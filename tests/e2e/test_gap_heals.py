"""A gap in the stream heals itself: events deleted before a stopped worker consumed them are
found at its restart, re-read through an incremental snapshot, and reconcile says MATCH.

The test's own connector, schema and change topics (ShopHarness, Avro). While the worker is
stopped the test inserts and updates rows, then removes the partitions' records up to their
ends with Kafka's DeleteRecords: the log start offset moves past the committed offsets exactly
as time or size retention moves it, without waiting for the broker's retention check
(``log.retention.check.interval.ms`` is read-only, 5 minutes on the stack's broker, and a
broker restart would disturb every other test). During the gap the generator's workload runs
(inserts, updates, key changes and deletes): rows deleted then are in no snapshot, and the
worker's sweep after each snapshot tombstones them (``runtime/sweep.py``).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from shop_checks import converge, dlq_size, reconcile
from shop_harness import ShopHarness, wait_until

SEED = 20261202
avro_only = pytest.mark.parametrize("shop", ["avro"], indirect=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_worker(shop: ShopHarness, port: int) -> subprocess.Popen[bytes]:
    """The harness's worker, with its endpoints on ``port`` (for /metrics)."""
    env = dict(shop.env, STREAMAPP_LOG_LEVEL="INFO", STREAMAPP_WEB_PORT=str(port))
    with open(shop.log, "ab") as out:
        shop.proc = subprocess.Popen(
            [sys.executable, "-m", "streamapp", "worker", "--batch-max-wait", "0.05"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return shop.proc


def stop_worker(shop: ShopHarness) -> int:
    assert shop.proc is not None
    shop.proc.send_signal(signal.SIGTERM)
    return shop.proc.wait(90)


def ends(shop: ShopHarness, admin: Any, bases: tuple[str, ...]) -> dict[tuple[str, int], int]:
    """High watermark of every partition of the topologies' change topics."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": shop.settings.kafka_bootstrap, "group.id": "x"})
    try:
        out = {}
        for base in bases:
            topic = shop.topic(base)
            for p in admin.list_topics(topic, timeout=10).topics[topic].partitions:
                out[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
        return out
    finally:
        consumer.close()


def committed(shop: ShopHarness, admin: Any, parts: list[tuple[str, int]]) -> dict[Any, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    request = ConsumerGroupTopicPartitions(shop.name, [TopicPartition(t, p) for t, p in parts])
    answer = admin.list_consumer_group_offsets([request])[shop.name].result(30)
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions}


def quiet_ends(shop: ShopHarness, admin: Any) -> dict[tuple[str, int], int]:
    """The change topics' ends once the connector has streamed everything (3 s unchanged)."""
    last: dict[tuple[str, int], int] = {}
    stable_since = time.monotonic()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = ends(shop, admin, ("customers", "orders"))
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 3:
            return now
        time.sleep(0.5)
    raise AssertionError("the change topics never stopped growing")


def delete_up_to(admin: Any, offsets: dict[tuple[str, int], int]) -> None:
    """Advance each partition's log start offset to ``offsets`` (what retention does)."""
    from confluent_kafka import TopicPartition

    wanted = [TopicPartition(t, p, o) for (t, p), o in offsets.items() if o > 0]
    for fut in admin.delete_records(wanted).values():
        fut.result(30)


def inserts_and_updates(shop: ShopHarness, work: Any, n: int) -> None:
    """``n`` transactions of the workload's insert and update kinds only."""
    actions = [work.new_customer, work.update_customer, work.place_order, work.advance_order]
    for i in range(n):
        with work.conn.transaction():
            actions[i % len(actions)]()


def generator(work: Any, n: int) -> None:
    """``n`` transactions of the generator's full mix (``streamapp generate``'s Workload):
    inserts, updates, primary-key changes and deletes."""
    for _ in range(n):
        work.step()


SWEPT = re.compile(
    r"sweep of topology (\S+) after the gap snapshot of \S+: (\S+): ([\d,]+) stray row\(s\) "
    r"found, ([\d,]+) tombstoned\b"
)


def sweeps(log: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(topology, sink) -> (strays found, tombstoned), from the worker's sweep lines."""
    out = {}
    for line in log.splitlines():
        match = SWEPT.search(line)
        if match:
            found, done = (int(g.replace(",", "")) for g in match.group(3, 4))
            out[(match[1], match[2])] = (found, done)
    return out


def metric(port: int, name: str) -> dict[str, float]:
    """Samples of ``name`` on the worker's /metrics: label text -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            out[match[1]] = float(match[2])
    return out


@avro_only
def test_gap_heals_itself(shop: ShopHarness, kafka_admin: Any, redis_client: Any) -> None:
    shop.create_schema()
    shop.write_topologies()
    work = shop.workload(SEED)
    work.populate(20, 40)
    shop.create_topics(kafka_admin)
    port = free_port()
    start_worker(shop, port)
    shop.register_connector()
    for _ in range(40):
        work.step()
    converge(shop, redis_client, "initial snapshot and DML")
    assert stop_worker(shop) == 0, shop.worker_tail()

    # The worker is away: the generator runs (deletes too), then retention removes every
    # record the worker did not read.
    parts = list(ends(shop, kafka_admin, ("customers", "orders")))
    before = committed(shop, kafka_admin, parts)
    deleted = work.counts.deletes
    generator(work, 120)
    assert work.counts.deletes > deleted, work.counts  # rows deleted during the gap
    after = quiet_ends(shop, kafka_admin)
    assert all(offset >= 0 for offset in before.values()), before  # every partition read
    lost = {tp: after[tp] - before[tp] for tp in parts if after[tp] > before[tp]}
    assert lost, (before, after)
    delete_up_to(kafka_admin, after)

    start_worker(shop, port)
    healed = {"customers": False, "orders": False}

    def snapshots_done() -> bool:
        shop.assert_worker_running()
        log = shop.log.read_text(errors="replace")
        for base in healed:
            table = f"{shop.name}.{base}"
            healed[base] = (
                f"auto-snapshot of {table} for topology {shop.name}_{base} completed" in log
            )
        return all(healed.values())

    wait_until(
        snapshots_done, what="both gap-healing snapshots", timeout=300, tail=shop.worker_tail
    )
    log = shop.log.read_text(errors="replace")
    for (topic, p), n in lost.items():
        base = topic.rsplit(".", 1)[1]
        line = (
            f"gap in topology {shop.name}_{base}: topic {topic} partition {p}: committed offset "
            f"{before[(topic, p)]:,}, first available offset {after[(topic, p)]:,}: {n:,} "
            "event(s) deleted by retention before they were consumed"
        )
        assert line in log, shop.worker_tail(80)
    completed = re.findall(r"auto-snapshot of \S+ for topology \S+ completed: ([\d,]+) rows", log)
    assert len(completed) == 2 and all(int(n.replace(",", "")) > 0 for n in completed), completed
    gaps = metric(port, "streamapp_gaps_total")
    for (topic, p), _n in lost.items():
        base = topic.rsplit(".", 1)[1]
        labels = f'partition="{topic}[{p}]",topology="{shop.name}_{base}"'
        assert gaps.get(labels) == 1.0, gaps

    # Rows deleted during the gap are in no snapshot: the sweep after each snapshot removes
    # them from every sink (without it they stay: converge fails with unexpected keys).
    converge(shop, redis_client, "gap-healing snapshots and the sweeps")
    sinks = {(t.name, str(spec)) for t in shop.topologies.values() for spec in t.sinks}
    wait_until(
        lambda: set(sweeps(shop.log.read_text(errors="replace"))) == sinks,
        what="a sweep line for every sink",
        timeout=120,
        tail=shop.worker_tail,
    )
    swept = sweeps(shop.log.read_text(errors="replace"))
    assert all(found == done for found, done in swept.values()), swept  # nothing in flight
    for base in ("customers", "orders"):
        assert any(swept[(t, s)][1] for t, s in sinks if t == f"{shop.name}_{base}"), swept
    assert dlq_size(shop, kafka_admin) == 0, shop.worker_tail()
    assert stop_worker(shop) == 0, shop.worker_tail()

    # What a human finds afterwards: status lists the gaps and the snapshots; reconcile: MATCH.
    status = subprocess.run(
        [sys.executable, "-m", "streamapp", "status"],
        env=shop.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(status.stdout)
    assert "healing" in status.stdout and "gap: gap in topology" in status.stdout, status.stdout
    assert re.search(r"snapshot: snapshot of \S+ completed: [\d,]+ rows", status.stdout)
    assert re.search(r"sweep: swept after the snapshot of \S+: \S+: [\d,]+ stray", status.stdout)
    for base in ("customers", "orders"):
        done = reconcile(shop, base)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().splitlines()[-1].startswith("result: MATCH"), done.stdout


@avro_only
def test_gap_with_on_gap_fail_stops_the_worker(shop: ShopHarness, kafka_admin: Any) -> None:
    shop.create_schema()
    shop.write_topologies()
    module = shop.tmp / "topologies" / f"{shop.name}_orders.py"
    module.write_text(
        module.read_text() + 'topology = dataclasses.replace(topology, on_gap="fail")\n'
    )
    work = shop.workload(SEED)
    work.populate(5, 20)
    shop.create_topics(kafka_admin)
    port = free_port()
    start_worker(shop, port)
    shop.register_connector()
    parts = list(ends(shop, kafka_admin, ("orders",)))
    wait_until(
        lambda: all(o > 0 for o in committed(shop, kafka_admin, parts).values()),
        what="the worker to commit every orders partition",
        timeout=120,
        tail=shop.worker_tail,
    )
    assert stop_worker(shop) == 0, shop.worker_tail()
    before = committed(shop, kafka_admin, parts)
    inserts_and_updates(shop, work, 30)
    after = quiet_ends(shop, kafka_admin)
    delete_up_to(kafka_admin, {tp: after[tp] for tp in parts})

    proc = start_worker(shop, port)
    code = proc.wait(120)
    log = shop.log.read_text(errors="replace")
    assert code == 3, shop.worker_tail(60)
    errors = [ln for ln in log.splitlines() if " ERROR " in ln or " CRITICAL " in ln]
    assert errors and "Traceback" not in log, shop.worker_tail(60)
    for line in errors:  # one line per partition with a gap, nothing else
        assert f"ERROR streamapp.gaps: gap in topology {shop.name}_orders: topic " in line
        assert "on_gap='fail': stopping the worker" in line
    assert committed(shop, kafka_admin, parts) == before  # nothing past the gap committed
