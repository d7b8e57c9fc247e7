"""DLQ topics on the real broker: created with the configured retention, existing ones kept."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamapp.dlq.topics import ensure_dlq_topics
from streamapp.settings import Settings


@pytest.fixture
def dlq_names(kafka_admin: Any, unique: str) -> Iterator[list[str]]:
    """Topic names for the test (created by the code under test), deleted afterwards."""
    names = [f"{unique}.a.dlq", f"{unique}.b.dlq"]
    yield names
    existing = kafka_admin.list_topics(timeout=10).topics
    gone = [n for n in names if n in existing]
    if gone:
        for fut in kafka_admin.delete_topics(gone).values():
            fut.result(30)


def _retention(admin: Any, topic: str) -> str:
    from confluent_kafka.admin import ConfigResource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, topic)
    return str(admin.describe_configs([resource])[resource].result(30)["retention.ms"].value)


def test_missing_dlq_topics_are_created_with_the_retention(
    stack: Settings, kafka_admin: Any, dlq_names: list[str]
) -> None:
    two_hours = dataclasses.replace(stack, dlq_retention_ms="7200000")
    created = ensure_dlq_topics(two_hours, [*dlq_names, dlq_names[0]])
    assert sorted(created) == sorted(dlq_names)
    for name in dlq_names:
        assert _retention(kafka_admin, name) == "7200000"
    assert ensure_dlq_topics(two_hours, dlq_names) == []  # idempotent


def test_an_existing_dlq_topic_is_kept_with_a_warning_when_its_retention_differs(
    stack: Settings,
    kafka_admin: Any,
    new_topic: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    existing = new_topic("old.dlq")  # the broker's default retention
    before = _retention(kafka_admin, existing)
    with caplog.at_level(logging.WARNING, logger="streamapp.dlq"):
        one_hour = dataclasses.replace(stack, dlq_retention_ms="3600000")
        assert ensure_dlq_topics(one_hour, [existing]) == []
    assert _retention(kafka_admin, existing) == before != "3600000"
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"DLQ topic {existing} keeps records for retention.ms={before}")
    assert "STREAMAPP_DLQ_RETENTION_MS=3600000" in warning
