"""Fixtures for slot-health tests: a logical slot of the test's own, and the worker harness."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

from worker_harness import WorkerHarness


@pytest.fixture
def logical_slot(pg_source: Any, unique: str) -> Iterator[str]:
    """A test_decoding slot in the source database, named after the test (never the
    connector's); dropped afterwards."""
    slot = f"{unique}_slot"[:63]
    pg_source.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", [slot])
    try:
        yield slot
    finally:
        pg_source.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            [slot],
        )


@pytest.fixture
def harness(provisioned: Callable[..., Any]) -> WorkerHarness:
    return provisioned(WorkerHarness)
