"""Fixtures for tests on the real local stack.

The session fixture starts the stack when it is down (`infra/local/stack up`) and fails, never
skips, when a service cannot be reached. Per-test fixtures hand out unique names (topics, tables,
keys, subjects) and delete what the test created.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamapp.observability.health import check_all
from streamapp.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Settings:
    """Settings of a healthy stack; starts the local one when a service does not answer."""
    settings = Settings.from_env()
    if not all(c.ok for c in check_all(settings)):
        subprocess.run([sys.executable, str(REPO / "infra/local/stack"), "up"], check=True)
    bad = [f"{c.service} ({c.address}): {c.detail}" for c in check_all(settings) if not c.ok]
    if bad:
        pytest.fail("local stack unhealthy: " + "; ".join(bad), pytrace=False)
    return settings


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A short name unique to this test run, safe for topics, tables, keys and subjects."""
    base = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:24].strip("_")
    return f"t{uuid.uuid4().hex[:8]}_{base}"


@pytest.fixture
def kafka_admin(stack: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": stack.kafka_bootstrap})


@pytest.fixture
def new_topic(kafka_admin: Any, unique: str) -> Iterator[Callable[..., str]]:
    """Factory: create a topic (name derived from ``unique``), deleted after the test."""
    from confluent_kafka.admin import NewTopic

    created: list[str] = []

    def make(suffix: str = "events", partitions: int = 1) -> str:
        name = f"{unique}.{suffix}"
        futures = kafka_admin.create_topics([NewTopic(name, partitions, 1)])
        futures[name].result(timeout=30)
        created.append(name)
        wait_for(lambda: _has_leaders(kafka_admin, name, partitions), what=f"topic {name} leaders")
        return name

    yield make
    if created:
        for fut in kafka_admin.delete_topics(created).values():
            fut.result(timeout=30)


def wait_for(condition: Callable[[], bool], *, what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until true; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _has_leaders(admin: Any, topic: str, partitions: int) -> bool:
    meta = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None or len(meta.partitions) != partitions:
        return False
    return all(p.leader >= 0 for p in meta.partitions.values())


@pytest.fixture
def registry_client(stack: Settings, unique: str) -> Iterator[Any]:
    """A SchemaRegistryClient; subjects starting with ``unique`` are deleted afterwards."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    client = SchemaRegistryClient({"url": stack.registry_url})
    yield client
    for subject in client.get_subjects():
        if subject.startswith(unique):
            client.delete_subject(subject, permanent=False)
            client.delete_subject(subject, permanent=True)


@pytest.fixture
def provisioned(
    stack: Settings,
    unique: str,
    tmp_path: Path,
    registry_client: Any,
    kafka_admin: Any,
    pg_warehouse: Any,
    redis_client: Any,
) -> Iterator[Callable[..., Any]]:
    """``make(cls, groups=())``: a worker harness of class ``cls`` (a WorkerHarness subclass of
    tests/integration/runtime/worker_harness.py) with its topics created; after the test its
    worker is killed and its tables, keys, topics, groups (and ``groups``) and subjects go."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "runtime"))
    from worker_harness import provision, teardown

    made: list[tuple[Any, tuple[str, ...]]] = []

    def make(cls: Callable[..., Any], groups: tuple[str, ...] = ()) -> Any:
        h = cls(stack, unique, tmp_path, registry_client)
        provision(h, kafka_admin)
        made.append((h, groups))
        return h

    yield make
    for h, groups in reversed(made):
        teardown(
            h,
            kafka_admin=kafka_admin,
            pg_warehouse=pg_warehouse,
            redis_client=redis_client,
            registry_client=registry_client,
            groups=groups,
        )


@pytest.fixture
def pg_warehouse(stack: Settings) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(stack.warehouse_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_source(stack: Settings) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(stack.source_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def redis_client(stack: Settings, unique: str) -> Iterator[Any]:
    """A Redis client; keys starting with ``unique`` are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(stack.redis_url)
    yield client
    keys = list(client.scan_iter(match=f"{unique}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def clickhouse(stack: Settings) -> Iterator[Any]:
    """One clickhouse-connect client for the session (embedded chDB belongs to one process)."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=stack.clickhouse_client_dsn())
    yield client
    client.close()


@pytest.fixture
def ch_database(clickhouse: Any, unique: str) -> Iterator[str]:
    """A ClickHouse database for this test, dropped afterwards."""
    clickhouse.command(f"CREATE DATABASE IF NOT EXISTS {unique}")
    yield unique
    clickhouse.command(f"DROP DATABASE IF EXISTS {unique} SYNC")
