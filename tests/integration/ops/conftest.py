"""Fixtures for the operations tests: an OpsHarness with its topics, groups removed after."""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]
from ops_harness import OpsHarness

from streamapp.settings import Settings


@pytest.fixture
def ops(
    stack: Settings,
    unique: str,
    tmp_path: Path,
    registry_client: Any,
    kafka_admin: Any,
    pg_warehouse: Any,
    redis_client: Any,
) -> Iterator[OpsHarness]:
    h = OpsHarness(stack, unique, tmp_path, registry_client)
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
    group = h.env["STREAMAPP_GROUP_ID"]
    shutil.rmtree(Path.cwd() / f"{group}-data", ignore_errors=True)  # the worker's Faust datadir
    for fut in kafka_admin.delete_consumer_groups([group, f"{group}.dlq-replay"]).values():
        with contextlib.suppress(Exception):  # a group that never committed does not exist
            fut.result(30)
    for subject in registry_client.get_subjects():
        if subject.startswith((h.topic, h.output)):
            registry_client.delete_subject(subject, permanent=False)
            registry_client.delete_subject(subject, permanent=True)
