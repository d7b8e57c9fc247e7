"""Fixtures for the sink tests: a harness per sink (see sinks_harness) and stack control."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from s3_store import REST_ROOT, delete_s3_prefix, use_checksum_env
from sinks_harness import SINKS, Harness

from streamapp.settings import Settings, redact_url

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[Any]:
    """A synchronous client of the stack's OpenSearch node (``make up`` starts it); fails,
    never starts it nor skips, when the node does not answer."""
    from opensearchpy import OpenSearch

    url = Settings.from_env().opensearch_url
    client = OpenSearch(hosts=[url], timeout=30)
    quiet = logging.getLogger("opensearch")  # the client logs each refused try with a traceback
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        answers = client.ping()
    finally:
        quiet.setLevel(level)
    try:
        if not answers:
            message = f"OpenSearch at {redact_url(url)} does not answer: run make up"
            pytest.fail(message, pytrace=False)
        yield client
    finally:
        client.close()


@pytest.fixture(params=SINKS)
def harness(
    request: pytest.FixtureRequest,
    stack: Settings,
    unique: str,
    pg_warehouse: Any,
    redis_client: Any,
    clickhouse: Any,
) -> Iterator[Harness]:
    """Each test runs once per sink (Redis twice: JSON and hash); its tables are dropped after."""
    kind: str = request.param
    if kind in ("iceberg_s3", "iceberg_rest_s3"):  # S3Proxy takes no aws-chunked uploads
        use_checksum_env(request.getfixturevalue("monkeypatch"))
    if kind == "clickhouse":
        clickhouse.command(f"CREATE DATABASE IF NOT EXISTS `{unique}`")
    node = request.getfixturevalue("opensearch_node") if kind == "opensearch" else None
    harness = Harness(kind, stack, unique, pg_warehouse, redis_client, clickhouse, node)
    yield harness
    if kind == "postgres":
        pg_warehouse.execute(f'DROP TABLE IF EXISTS "{unique}" CASCADE')
    elif kind == "clickhouse":
        clickhouse.command(f"DROP DATABASE IF EXISTS `{unique}` SYNC")
    elif kind in ("iceberg", "iceberg_s3"):
        for t in ("iceberg_tables", "iceberg_namespace_properties"):
            pg_warehouse.execute(f"DELETE FROM {t} WHERE catalog_name = %s", [unique])
        shutil.rmtree(Harness.iceberg_warehouse_of(unique), ignore_errors=True)
        if kind == "iceberg_s3":
            delete_s3_prefix(unique)
    elif kind in ("iceberg_rest", "iceberg_rest_s3"):
        harness.drop_iceberg_namespace()
        shutil.rmtree(Harness.iceberg_warehouse_of(unique), ignore_errors=True)
        if kind == "iceberg_rest_s3":
            delete_s3_prefix(unique, REST_ROOT)
    elif kind == "opensearch":
        harness.drop_opensearch_index()


@pytest.fixture
def stack_service() -> Iterator[Callable[[str, str], None]]:
    """``control(command, service)`` runs ``infra/local/stack``; stopped services are restarted."""
    stopped: list[str] = []

    def control(command: str, service: str) -> None:
        if command == "down":
            stopped.append(service)
        subprocess.run(
            [sys.executable, str(REPO / "infra/local/stack"), command, service],
            check=True,
            capture_output=True,
        )

    yield control
    for service in stopped:
        subprocess.run([sys.executable, str(REPO / "infra/local/stack"), "up", service], check=True)
