"""Fixtures for worker tests: a harness with its topics created and everything removed after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_harness import WorkerHarness, provision, teardown

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
    provision(h, kafka_admin)
    yield h
    teardown(
        h,
        kafka_admin=kafka_admin,
        pg_warehouse=pg_warehouse,
        redis_client=redis_client,
        registry_client=registry_client,
    )
