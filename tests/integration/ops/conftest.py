"""Fixtures for the operations tests: an OpsHarness with its topics, groups removed after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ops_harness import OpsHarness


@pytest.fixture
def ops(provisioned: Callable[..., Any], unique: str) -> OpsHarness:
    return provisioned(OpsHarness, groups=(f"{unique}-group.dlq-replay",))
