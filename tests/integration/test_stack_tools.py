"""Kafka's own consumer-group tool runs from the stack's jars and agrees with our lag figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from streamapp.ops.kafka import Kafka
from streamapp.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TOOL = [sys.executable, str(REPO / "infra/local/stack"), "kafka-consumer-groups"]  # as in README


def test_kafka_consumer_groups_describes_the_lag_streamapp_reports(
    stack: Settings, new_topic: Any, kafka_admin: Any, unique: str
) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic, group = new_topic(partitions=2), f"{unique}-group"
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    for i in range(10):
        producer.produce(topic, value=b"x", partition=i % 2)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": group})
    consumer.commit(
        offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 1)], asynchronous=False
    )
    consumer.close()
    ours = Kafka(stack)
    try:
        done = subprocess.run(
            [*TOOL, "--describe", "--group", group],
            capture_output=True,
            text=True,
            timeout=300,
        )
        committed = ours.committed(group, [(topic, 0), (topic, 1)])
        mine = {}
        for p in (0, 1):
            end = ours.watermarks(topic, p)[1]
            offset = committed[(topic, p)][0]
            assert offset is not None
            mine[p] = (offset, end, end - offset)  # what `streamapp status` prints
    finally:
        ours.close()
        kafka_admin.delete_consumer_groups([group])[group].result(timeout=30)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(group)]
    tool = {int(r[2]): (int(r[3]), int(r[4]), int(r[5])) for r in rows}  # committed, end, lag
    assert tool == mine == {0: (3, 5, 2), 1: (1, 5, 4)}
