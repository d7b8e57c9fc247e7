"""BatchProducer on the real broker: records arrive in order, a refused record fails flush."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamapp.producer import BatchProducer, DeliveryError
from streamapp.settings import Settings


def consume_all(settings: Settings, topic: str, count: int) -> list[tuple[Any, Any]]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[Any, Any]] = []
    try:
        for _ in range(60):
            for msg in consumer.consume(count - len(got), timeout=1.0):
                assert msg.error() is None
                got.append((msg.key(), msg.value()))
            if len(got) >= count:
                break
    finally:
        consumer.close()
    return got


def test_produce_many_delivers_every_record_in_order(stack: Settings, new_topic: Any) -> None:
    topic = new_topic()
    producer = BatchProducer(stack)
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(500)] + [(b"gone", None)]
    producer.produce_many(topic, sent)
    asyncio.run(producer.flush(30))
    producer.close()
    assert consume_all(stack, topic, len(sent)) == sent


def test_a_record_the_broker_refuses_fails_the_flush(
    stack: Settings, new_topic: Any, kafka_admin: Any
) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    topic = new_topic()
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in kafka_admin.incremental_alter_configs([resource]).values():
        future.result(30)
    producer = BatchProducer(stack)
    producer.produce_many(topic, [(b"small", b"ok")])
    asyncio.run(producer.flush(30))  # accepted: no error
    producer.produce_many(topic, [(b"big", b"x" * 50_000)])
    refused = r"1 record\(s\) rejected by Kafka, first: MSG_SIZE_TOO_LARGE"
    with pytest.raises(DeliveryError, match=refused):
        asyncio.run(producer.flush(30))
    asyncio.run(producer.flush(30))  # the error was reported once; nothing is pending
    producer.close()
