"""Fixtures for worker tests: a harness with its topics created and everything removed after."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic
from worker_harness import WorkerHarness

from streamapp.settings import Settings


@pytest.fixture
def harness(
    stack: Settings,
    unique: str,
    tmp_path: Path,
    registry_client: Any,
    kafka_admin: Any,
    pg_warehouse: Any,
    redis_client: Any,
) -> Iterator[WorkerHarness]:
    h = WorkerHarness(stack, unique, tmp_path, registry_client)
    futures = kafka_admin.create_topics(
        [
            NewTopic(h.topic, h.partitions, 1),
            NewTopic(h.output, h.partitions, 1),
            NewTopic(h.dlq, 1, 1),
        ]
    )
    for fut in futures.values():
        fut.result(30)
    yield h
    if h.proc is not None and h.proc.poll() is None:
        h.stop(signal.SIGKILL)
    pg_warehouse.execute(f'DROP VIEW IF EXISTS "{h.table}_current"')
    pg_warehouse.execute(f'DROP TABLE IF EXISTS "{h.table}"')
    for key in redis_client.scan_iter(match=f"{h.table}:*"):
        redis_client.delete(key)
    for fut in kafka_admin.delete_topics(h.topics()).values():
        fut.result(30)
    for subject in registry_client.get_subjects():
        if subject.startswith((h.topic, h.output)):
            registry_client.delete_subject(subject, permanent=False)
            registry_client.delete_subject(subject, permanent=True)
