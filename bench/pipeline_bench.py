"""End-to-end benchmark: one `streamapp worker` process, Debezium Avro in, ClickHouse + topic out.

Phase 1 (throughput): fills a 6-partition topic with N update events of a 20-column table, starts
one worker (topology: 10 transforms, ClickHouse sink, Avro output topic) and times it from the
first committed offsets to zero lag. Phase 2 (latency): restarts the worker and produces events
at a steady rate with live source timestamps; the worker's final line gives p50/p99 from
source ts_ms to "in every sink and topic". Also prints the worker's peak RSS and, as the ceiling,
a bare aiokafka getmany + decode loop over the same topic.
Phase 1 runs twice on the same topic (a new consumer group each time): stateless, then with one
``t.lookup`` of two columns into a ``customers`` table (a second topology materialised from its
own topic, preloaded with CUSTOMERS rows before the timed part); the second run also prints the
lookup barrier's time per batch (p50/p99 of ``streamapp_table_barrier_seconds``, scraped from the
worker's /metrics before it stops).
Usage: python bench/pipeline_bench.py [N] [latency_rate_per_s]
Environment: BENCH_SINK=iceberg writes the wide table to an Iceberg table (SQL catalog in the
stack's PostgreSQL, a warehouse in the run's temporary directory; commit interval from
STREAMAPP_ICEBERG_COMMIT_INTERVAL) instead of ClickHouse; BENCH_PROFILE=<file> runs the phase-1
worker under cProfile (stats written to the file; the figures are then slower);
BENCH_THROUGHPUT_ONLY=1 skips the latency phase and ceiling.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

sys.path.insert(0, str(Path(__file__).parent))
from transform_bench import COLUMNS, rows

from streamapp.decode import Decoder
from streamapp.registry import SchemaRegistry
from streamapp.settings import Settings
from streamapp.synth import Table
from streamapp.types import parse_type
from streamapp.wire import frame

PARTITIONS = 6
CUSTOMERS = 977  # rows() gives customer_id = i % 977: every order finds its customer
CUSTOMER_COLUMNS = {"id": "int", "name": "string", "tier": "int"}
TOPOLOGY = """
from streamapp.topology import Output, Sink, Source, Topology, t

topology = Topology(
    name="bench",
    source=Source(topic={topic!r}, columns={columns!r}),
    key=["id"],
    transforms=[
        t.filter_ops("c", "u", "r", "d"),
        t.drop("notes"),
        t.rename(first_name="given_name"),
        t.rename(last_name="family_name"),
        t.cast(quantity="float"),
        t.mask("email", t.email_keep_domain()),
        t.mask("phone", t.keep_last(4)),
        t.mask("tracking", t.hmac_sha256()),
        t.cast(loyalty_points="string"),
        t.metadata("__op", "__source_ts_ms", "__lsn"),
    ],
    output=Output(topic={output!r}),
    sinks=[Sink.clickhouse({table!r})],
)
"""
LOOKUP = """
        t.lookup("customers", on="customer_id", columns={"name": "customer_name", "tier": "tier"}),
"""
CUSTOMERS_TOPOLOGY = """
from streamapp.topology import Sink, Source, Topology

topology = Topology(
    name="customers",
    source=Source(topic={topic!r}, columns={columns!r}),
    key=["id"],
    sinks=[Sink.clickhouse({table!r})],
)
"""


class Source:
    def __init__(self, settings: Settings, topic: str, columns: dict[str, str] = COLUMNS) -> None:
        self.table = Table(topic.split(".")[-1], columns, ["id"], server="bench")
        self.topic = self.table.topic
        registry = SchemaRegistryClient({"url": settings.registry_url})
        self.value_id = registry.register_schema(
            f"{self.topic}-value", Schema(json.dumps(self.table.value_schema), "AVRO")
        )
        self.key_id = registry.register_schema(
            f"{self.topic}-key", Schema(json.dumps(self.table.key_schema), "AVRO")
        )
        self.vs = fastavro.parse_schema(self.table.value_schema)
        self.ks = fastavro.parse_schema(self.table.key_schema)
        self.producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "linger.ms": 20,
                "batch.num.messages": 10000,
                "queue.buffering.max.messages": 500000,
            }
        )
        self.lsn = 1000

    def send(self, row: dict, ts_ms: int, op: str = "u") -> None:  # type: ignore[type-arg]
        self.lsn += 1
        before = dict(row, status="pending") if op == "u" else None
        record = self.table.event(op, before=before, after=row, lsn=self.lsn, ts_ms=ts_ms)
        v, k = io.BytesIO(), io.BytesIO()
        fastavro.schemaless_writer(v, self.vs, record)
        fastavro.schemaless_writer(k, self.ks, self.table.key_of(row))
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    key=frame(self.key_id, k.getvalue()),
                    value=frame(self.value_id, v.getvalue()),
                )
                return
            except BufferError:
                self.producer.poll(0.05)


class Lag:
    """The group's lag on the topic: one consumer kept for every probe (creating one per probe
    costs a coordinator lookup each time, up to a second, which blurred the measured rate)."""

    def __init__(self, settings: Settings, group: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
            }
        )
        self.partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    def __call__(self) -> int:
        total = 0
        for tp in self.consumer.committed(self.partitions, 10):
            _low, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            total += high - max(tp.offset, 0)
        return total

    def close(self) -> None:
        self.consumer.close()


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def barrier_quantiles(port: int, topology: str) -> tuple[float, float, int] | None:
    """p50 and p99 (seconds, interpolated in the buckets as histogram_quantile does) and the
    count of ``streamapp_table_barrier_seconds`` for ``topology``, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith("streamapp_table_barrier_seconds_bucket{") and (
            f'topology="{topology}"' in line
        ):
            le = re.search(r'le="([^"]+)"', line)
            assert le is not None
            buckets.append((float(le.group(1)), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]

    def quantile(q: float) -> float:
        rank, lower, below = q * total, 0.0, 0.0
        for upper, count in buckets:
            if count >= rank:
                if upper == float("inf"):
                    return lower
                return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
            lower, below = upper, count
        return lower

    return quantile(0.5), quantile(0.99), int(total)


def start_worker(
    env: dict[str, str], log: Path, profile: str | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "streamapp", "worker"]
    if profile:
        command[1:1] = ["-m", "cProfile", "-o", profile]
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_worker(proc: subprocess.Popen[bytes], log: Path) -> str:
    proc.send_signal(signal.SIGTERM)
    if proc.wait(120) != 0:
        raise SystemExit(f"worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
    finals = [ln for ln in log.read_text().splitlines() if " final " in ln]
    return finals[-1] if finals else ""


async def ceiling(settings: Settings, topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    registry = SchemaRegistry(settings.registry_url, settings=settings)
    decoder = Decoder(resolver=registry, hints={k: parse_type(v) for k, v in COLUMNS.items()})
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    await consumer.start()
    seen, start = 0, time.perf_counter()
    try:
        while seen < n:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for r in records:
                    decoder.decode(
                        r.key, r.value, topic=r.topic, partition=r.partition, offset=r.offset
                    )
                seen += len(records)
    finally:
        await consumer.stop()
        registry.close()
    return n / (time.perf_counter() - start)


def phase1(
    settings: Settings,
    tmp: Path,
    env: dict[str, str],
    source: Source,
    n: int,
    *,
    lookup: Source | None = None,
) -> tuple[float, int, tuple[float, float, int] | None, dict[str, str], str]:
    """One worker from scratch (its own group, output topic and tables) over the filled
    topic: events/s from the first committed offsets to zero lag, its peak RSS, (with
    ``lookup``, the customers' topic) the barrier's p50/p99/count, its env and output topic."""
    name = "lookup" if lookup else "stateless"
    run = f"{tmp.name[-8:].replace('-', '_')}_{name}"
    topologies = tmp / f"topologies-{name}"
    topologies.mkdir()
    transforms_end = '        t.metadata("__op", "__source_ts_ms", "__lsn"),\n'
    text = TOPOLOGY.format(
        topic=source.topic, columns=COLUMNS, output=f"bench.out.{run}", table=f"wide_{run}"
    )
    if lookup is not None:
        assert transforms_end in text
        text = text.replace(transforms_end, transforms_end + LOOKUP.lstrip("\n"))
        (topologies / "customers.py").write_text(
            CUSTOMERS_TOPOLOGY.format(
                topic=lookup.topic, columns=CUSTOMER_COLUMNS, table=f"customers_{run}"
            )
        )
    if os.environ.get("BENCH_SINK") == "iceberg":
        text = text.replace(
            f"Sink.clickhouse({f'wide_{run}'!r})", f"Sink.iceberg('bench.wide_{run}')"
        )
        env = dict(env, STREAMAPP_ICEBERG_WAREHOUSE=str(tmp / f"iceberg-{name}"))
    (topologies / "bench.py").write_text(text)
    group = f"bench-{run}"
    port = free_port()
    env = dict(
        env,
        STREAMAPP_TOPOLOGIES_DIR=str(topologies),
        STREAMAPP_GROUP_ID=group,
        STREAMAPP_CLICKHOUSE_DSN=f"chdb://{tmp / ('chdb-' + name)}",
        STREAMAPP_WEB_PORT=str(port),
    )
    log = tmp / f"worker-{name}.log"
    print(f"{name} worker log: {log}", flush=True)
    lag = Lag(settings, group, source.topic)
    proc = start_worker(env, log, os.environ.get("BENCH_PROFILE"))
    first = done = None
    peak = 0
    while done is None:
        time.sleep(0.05)
        if proc.poll() is not None:
            raise SystemExit(f"worker exited early:\n{log.read_text()[-3000:]}")
        probed = time.perf_counter()  # what the probe sees was committed by about now
        remaining = lag()
        peak = max(peak, vm(proc.pid, "VmHWM"))
        if first is None and remaining < n:
            first = (probed, n - remaining)
        if remaining == 0:
            done = probed
    barrier = barrier_quantiles(port, "bench") if lookup is not None else None
    stop_worker(proc, log)
    lag.close()
    assert first is not None
    output = f"bench.out.{run}"
    return (n - first[1]) / max(done - first[0], 1e-9), peak, barrier, env, output


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    settings = Settings.from_env()
    run = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    print(f"worker logs: {tmp}", flush=True)
    source = Source(settings, f"bench.public.wide_{run}")
    customers = Source(settings, f"bench.public.customers_{run}", CUSTOMER_COLUMNS)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for f in admin.create_topics(
        [
            NewTopic(source.topic, PARTITIONS, 1),
            NewTopic(customers.topic, PARTITIONS, 1),
        ]
    ).values():
        f.result(30)
    env = dict(
        os.environ,
        STREAMAPP_SCHEMAS_DIR=str(tmp),
        STREAMAPP_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        # the rate is read from committed offsets: commit often so that the commit interval
        # (2.8 s by default) does not blur the first and last batch's time
        STREAMAPP_COMMIT_INTERVAL="0.2",
    )

    print(f"filling {source.topic} ({PARTITIONS} partitions) with {n:,} events ...", flush=True)
    now = int(time.time() * 1000)
    for row in rows(n):
        source.send(row, now)
    source.producer.flush(120)
    for i in range(CUSTOMERS):
        customers.send({"id": i, "name": f"customer {i}", "tier": i % 3}, now, op="r")
    customers.producer.flush(120)

    throughput, peak, _, env, output = phase1(settings, tmp, env, source, n)
    enriched, peak_lookup, barrier, _, output_lookup = phase1(
        settings, tmp, env, source, n, lookup=customers
    )
    topics = [source.topic, customers.topic, output, output_lookup]
    topics += [f"{topic}.dlq" for topic in (source.topic, customers.topic)]

    def print_phase1() -> None:
        sink = "Iceberg" if os.environ.get("BENCH_SINK") == "iceberg" else "ClickHouse"
        stateless = f"worker end to end ({sink} + output topic):"
        lookup = f"same + one t.lookup (2 columns, {CUSTOMERS} rows):"
        print(f"{stateless:<47}{throughput:>10,.0f} events/s")
        print(f"{lookup:<47}{enriched:>10,.0f} events/s")
        if barrier is not None:
            p50, p99, count = barrier
            label = f"lookup barrier per batch ({count:,} batches):"
            print(f"{label:<47}p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        rss = f"{peak / 2**20:,.0f} / {peak_lookup / 2**20:,.0f} MiB"
        print(f"{'worker peak RSS (stateless / lookup):':<47}{rss:>10}")

    if os.environ.get("BENCH_THROUGHPUT_ONLY"):
        print_phase1()
        admin.delete_topics(topics)
        return

    # the stateless worker again, from where its group stopped
    log = tmp / "worker-latency.log"
    lag = Lag(settings, env["STREAMAPP_GROUP_ID"], source.topic)
    proc = start_worker(env, log)
    time.sleep(8)  # start-up and partition assignment
    seconds = 10
    print(f"latency phase: {rate:,} events/s for {seconds}s ...", flush=True)
    start = time.perf_counter()
    for sent, row in enumerate(rows(rate * seconds), start=1):
        source.send(row, int(time.time() * 1000))
        ahead = sent / rate - (time.perf_counter() - start)
        if ahead > 0:
            source.producer.poll(0)
            time.sleep(ahead)
    source.producer.flush(60)
    while lag() > 0:
        time.sleep(0.5)
    peak = max(peak, vm(proc.pid, "VmHWM"))
    final = stop_worker(proc, log)
    latency = re.search(r"latency p50 (\d+) ms p99 (\d+) ms", final)

    lag.close()
    top = asyncio.run(ceiling(settings, source.topic, n))
    print_phase1()
    if latency:
        print(
            f"latency source ts_ms -> stored, at {rate:,}/s:   "
            f"p50 {latency.group(1)} ms, p99 {latency.group(2)} ms"
        )
    print(f"ceiling: bare aiokafka consume + decode:       {top:>10,.0f} events/s")
    print(f"worker / ceiling:                              {throughput / top:>10.0%}")
    admin.delete_topics(topics)


if __name__ == "__main__":
    main()
