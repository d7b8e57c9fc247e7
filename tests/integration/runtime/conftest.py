"""Fixtures for worker tests: a harness with its topics created and everything removed after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from worker_harness import WorkerHarness


@pytest.fixture
def harness(provisioned: Callable[..., Any]) -> WorkerHarness:
    return provisioned(WorkerHarness)
