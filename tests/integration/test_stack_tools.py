"""Kafka's own consumer-group tool runs from the stack's jars and agrees with our lag figures."""

from __future__ import annotations

import subprocess
import sys
import time
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


def test_deleting_its_topic_removes_a_group_so_clean_up_drops_the_group_first(
    stack: Settings, kafka_admin: Any, unique: str
) -> None:
    """Why the e2e harnesses (ShopHarness.close, TypeZooHarness.close) delete a worker's group
    before its topics: the broker drops a group's offsets on a deleted topic, and an empty group
    left without offsets dies, so deleting it afterwards fails with GROUP_ID_NOT_FOUND. Which
    of the two came first was a race; a fresh-clone CI run lost it in the MariaDB e2e clean-up."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
    from confluent_kafka.admin import NewTopic

    def committed_group(topic: str) -> str:
        kafka_admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
        consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": topic})
        consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        consumer.close()
        return topic

    def state(group: str) -> str:
        try:
            return str(kafka_admin.describe_consumer_groups([group])[group].result(30).state)
        except KafkaException as exc:
            return str(exc.args[0].name())

    # the order the harnesses use: the group goes while its offsets still exist, then the topic
    first = committed_group(f"{unique}.first")
    kafka_admin.delete_consumer_groups([first])[first].result(timeout=30)
    kafka_admin.delete_topics([first])[first].result(timeout=30)

    # the other order: the topic's deletion takes the group with it
    late = committed_group(f"{unique}.late")
    assert state(late).endswith("EMPTY")
    kafka_admin.delete_topics([late])[late].result(timeout=30)
    deadline = time.monotonic() + 60
    while not state(late).endswith(("DEAD", "GROUP_ID_NOT_FOUND")):
        assert time.monotonic() < deadline, f"group {late}: {state(late)} 60 s after its topic went"
        time.sleep(0.2)
    try:
        kafka_admin.delete_consumer_groups([late])[late].result(timeout=30)
        raise AssertionError(f"group {late} outlived its only topic")
    except KafkaException as exc:
        assert exc.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND
