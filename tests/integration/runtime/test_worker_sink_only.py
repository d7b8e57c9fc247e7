"""A real worker running a topology without an Output: its sinks fill, no topic, no subject."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, TopicPartition
from worker_harness import WorkerHarness, wait_until


def test_a_topology_without_output_writes_its_sinks_and_produces_no_topic(
    harness: WorkerHarness, pg_warehouse: Any, kafka_admin: Any, registry_client: Any
) -> None:
    module = harness.tmp / "topologies" / f"{harness.unique}.py"
    text = module.read_text()
    declared = f'    output=Output(topic="{harness.output}"),\n'
    assert declared in text
    module.write_text(text.replace(declared, ""))
    for i in range(1, 11):
        after = {"id": i, "email": f"p{i}@example.com", "amount": None, "qty": "1"}
        harness.send("c", after={**after, "note": "n", "updated_at": None}, lsn=1000 + i)
    harness.flush()

    harness.start()
    wait_until(
        lambda: len(harness.pg_rows(pg_warehouse)) == 10,
        what="PostgreSQL sink to hold the 10 rows",
        harness=harness,
    )
    assert harness.stop() == 0, harness.log_tail()

    # before: the worker registered <name>-value/-key and produced to a topic named <name>
    subjects = registry_client.get_subjects()
    assert not [s for s in subjects if s.startswith(f"{harness.unique}-")]
    assert harness.unique not in kafka_admin.list_topics(timeout=10).topics
    out = kafka_admin.list_topics(harness.output, timeout=10).topics[harness.output]
    assert out.error is None  # provisioned by the harness, and left empty:
    consumer = Consumer({"bootstrap.servers": harness.settings.kafka_bootstrap, "group.id": "x"})
    try:
        ends = [
            consumer.get_watermark_offsets(TopicPartition(harness.output, p), 10)[1]
            for p in out.partitions
        ]
    finally:
        consumer.close()
    assert sum(ends) == 0
