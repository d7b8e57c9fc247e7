"""Fixtures for the dbt/freshness tests: dbt from its own virtualenv, a worker harness."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests/integration/runtime"))

from fresh_harness import FreshHarness  # noqa: E402


@pytest.fixture(scope="session")
def dbt() -> Path:
    """The dbt executable of the separate dbt virtualenv (``make dbt-venv``; DBT_VENV moves
    it). Missing is a failure, never a skip: CI installs it (.ci/run)."""
    venv = Path(os.environ.get("DBT_VENV", ".stack/dbt-venv"))
    venv = venv if venv.is_absolute() else REPO / venv
    exe = venv / "bin" / "dbt"
    if not exe.exists():
        pytest.fail(f"dbt is not installed at {exe}: run `make dbt-venv`", pytrace=False)
    return exe


@pytest.fixture
def harness(provisioned: Callable[..., Any], pg_warehouse: Any) -> Iterator[FreshHarness]:
    h: FreshHarness = provisioned(FreshHarness)
    yield h
    if pg_warehouse.execute("SELECT to_regclass('streamapp_freshness_partitions')").fetchone()[0]:
        pg_warehouse.execute(
            "DELETE FROM streamapp_freshness_partitions WHERE topology = %s", [h.unique]
        )
