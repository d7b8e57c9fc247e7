"""Fixtures of the materialised-state tests: a real worker stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from state_harness import Worker


@pytest.fixture
def worker(tmp_path: Path, unique: str) -> Iterator[Worker]:
    w = Worker(tmp_path, unique)
    yield w
    w.stop()
