"""Consume-path benchmark: Faust fast-path consumer vs a bare aiokafka getmany loop.

Fills a topic with N small events, then drains it (a) with a bare aiokafka consumer (the
ceiling) and (b) with streamapp's Faust app + BatchConsumer and a handler that only counts.
Prints events/s for both. Usage: python bench/consume_bench.py [N] [partitions]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamapp.kafkaconf import KafkaSecurity
from streamapp.runtime.app import build_app
from streamapp.settings import Settings


def fill(bootstrap: str, topic: str, n: int, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000}
    )
    payload = b"x" * 150
    for i in range(n):
        while True:
            try:
                producer.produce(topic, key=str(i).encode(), value=payload)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


async def bare(bootstrap: str, topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    await consumer.start()
    seen = 0
    start = time.perf_counter()
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
    return n / (time.perf_counter() - start)


def faust_fastpath(bootstrap: str, topic: str, n: int) -> float:
    import faust

    seen = 0
    marks: dict[str, float] = {}
    done = asyncio.Event()

    class Counter:
        """A processor that only counts (prepare) and stores nothing."""

        async def prepare(self, batch):  # type: ignore[no-untyped-def]
            nonlocal seen
            marks.setdefault("start", time.perf_counter())
            seen += sum(len(v) for v in batch.values())
            if seen >= n:
                marks["end"] = time.perf_counter()
                done.set()

        async def store(self, prepared):  # type: ignore[no-untyped-def]
            pass

    handler = Counter()

    app = build_app(
        app_id=f"bench-{uuid.uuid4().hex[:6]}",
        bootstrap=bootstrap,
        security=KafkaSecurity(),  # the bench runs against the local stack's PLAINTEXT listener
        routes=[("bench", [topic], handler)],
    )

    @app.task
    async def stopper() -> None:
        await done.wait()
        os.kill(os.getpid(), signal.SIGTERM)  # the graceful-shutdown path users take

    worker = faust.Worker(app, loglevel="WARNING", quiet=True, override_logging=False)
    worker.spinner = None  # no cursor control codes in the printed figures
    with contextlib.suppress(SystemExit):
        worker.execute_from_commandline()
    return n / (marks["end"] - marks["start"])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    partitions = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    logging.basicConfig(level=logging.WARNING)
    bootstrap = Settings.from_env().kafka_bootstrap
    topic = f"bench.consume.{uuid.uuid4().hex[:8]}"
    fill(bootstrap, topic, n, partitions)
    ceiling = asyncio.run(bare(bootstrap, topic, n))
    print(f"bare aiokafka getmany : {ceiling:>10,.0f} events/s")
    fast = faust_fastpath(bootstrap, topic, n)
    print(f"faust BatchConsumer   : {fast:>10,.0f} events/s ({fast / ceiling:.0%} of bare)")
    AdminClient({"bootstrap.servers": bootstrap}).delete_topics([topic])


if __name__ == "__main__":
    main()
