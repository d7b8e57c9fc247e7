"""Fixtures for the operations tests: an OpsHarness with its topics, groups removed after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ops_harness import OpsHarness
from worker_harness import provision, teardown

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
    provision(h, kafka_admin)
    yield h
    teardown(
        h,
        kafka_admin=kafka_admin,
        pg_warehouse=pg_warehouse,
        redis_client=redis_client,
        registry_client=registry_client,
        groups=(f"{h.env['STREAMAPP_GROUP_ID']}.dlq-replay",),
    )
