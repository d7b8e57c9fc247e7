"""Fixtures for the end-to-end suite: the real stack including Kafka Connect with Debezium.

The session fixture starts the local stack when a service (Connect included) does not answer
and fails, never skips, when one stays unreachable. ``shop`` builds one ShopHarness per test
(per-test schema, connector, topics, worker and sink tables) and tears it all down afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shop_harness import ShopHarness, connect_rest, create_shop_schema, drop_shop_schema

from streamapp.observability.health import check_all
from streamapp.settings import Settings

REPO = Path(__file__).resolve().parents[2]
POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"


def _problems(settings: Settings) -> list[str]:
    bad = [f"{c.service} ({c.address}): {c.detail}" for c in check_all(settings) if not c.ok]
    try:
        plugins = connect_rest("GET", "/connector-plugins", timeout=5)
        if not any(p.get("class") == POSTGRES_CONNECTOR for p in plugins):
            bad.append("connect: the Debezium PostgresConnector plugin is not installed")
    except OSError as exc:
        bad.append(f"connect: {exc}")
    return bad


@pytest.fixture(scope="session")
def stack() -> Settings:
    """Settings of a healthy stack with Connect; starts the local stack when needed."""
    settings = Settings.from_env()
    if _problems(settings):
        subprocess.run([sys.executable, str(REPO / "infra/local/stack"), "up"], check=True)
    bad = _problems(settings)
    if bad:
        pytest.fail("local stack unhealthy: " + "; ".join(bad), pytrace=False)
    return settings


@pytest.fixture(scope="session")
def kafka_admin(stack: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": stack.kafka_bootstrap})


@pytest.fixture
def redis_client(stack: Settings) -> Iterator[Any]:
    """A Redis client that rides out a restart (other suites stop Redis to test outages)."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        stack.redis_url,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 30),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
    )
    yield client
    client.close()


@pytest.fixture(params=["avro", "json"])
def shop(
    request: pytest.FixtureRequest,
    stack: Settings,
    tmp_path: Path,
    kafka_admin: Any,
    redis_client: Any,
) -> Iterator[ShopHarness]:
    """A ShopHarness for the converter in the test's parameter; everything removed afterwards."""
    name = f"e2e_{request.param}_{uuid.uuid4().hex[:6]}"
    harness = ShopHarness(stack, name, request.param, tmp_path)
    try:
        yield harness
    finally:
        harness.close(kafka_admin, redis_client)


@pytest.fixture
def shop_schema(stack: Settings) -> Iterator[str]:
    """A source schema with the shop tables (no connector), dropped afterwards."""
    import psycopg

    name = f"e2e_gen_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(stack.source_dsn, autocommit=True) as conn:
        create_shop_schema(conn, name)
        try:
            yield name
        finally:
            drop_shop_schema(conn, name)
