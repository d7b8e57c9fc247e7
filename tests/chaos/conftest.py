"""Fixtures for the chaos suite: the real stack with Kafka Connect and Debezium.

Like the e2e suite, the session fixture starts the local stack when a service does not answer
and fails, never skips, when one stays unreachable.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(E2E) not in sys.path:
    sys.path.insert(0, str(E2E))

from chaos_watch import quiet  # noqa: E402
from shop_harness import connect_rest  # noqa: E402

from streamapp.observability.health import check_all  # noqa: E402
from streamapp.settings import Settings  # noqa: E402

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
def chaos_stack() -> Settings:
    """Settings of a healthy stack with Connect; starts the local stack when needed."""
    settings = Settings.from_env()
    if _problems(settings):
        subprocess.run([sys.executable, str(REPO / "infra/local/stack"), "up"], check=True)
    bad = _problems(settings)
    if bad:
        pytest.fail("local stack unhealthy: " + "; ".join(bad), pytrace=False)
    return settings


@pytest.fixture(scope="session")
def chaos_clients(chaos_stack: Settings) -> Iterator[tuple[Any, Any]]:
    """(Kafka AdminClient, Redis client) for set-up, checks and clean-up."""
    import redis
    from confluent_kafka.admin import AdminClient

    client = redis.Redis.from_url(chaos_stack.redis_url)
    yield AdminClient(quiet({"bootstrap.servers": chaos_stack.kafka_bootstrap})), client
    client.close()
