"""Dagster: a sensor that launches the dbt job once a topology is fresh, and an asset check.

Install streamapp into the Dagster environment (``pip install streamapp``: the helper needs the
standard library and psycopg only). Both call ``streamapp.freshness_client.check`` against the
warehouse's ``streamapp_freshness`` view (every worker of the group) or a worker's URL.
"""

from __future__ import annotations

import os

from dagster import (
    AssetCheckResult,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
    sensor,
)

from streamapp.freshness_client import check

SOURCE = os.environ.get("STREAMAPP_FRESHNESS_SOURCE", "http://127.0.0.1:6066")
TOPOLOGY, MAX_LAG = "orders", 120.0


@asset
def orders_daily() -> None:
    """Stands for the dbt models over ``source('streamapp', 'orders_current')`` (dagster-dbt)."""


orders_job = define_asset_job("orders_job", selection=[orders_daily])


@sensor(job=orders_job, minimum_interval_seconds=30)
def orders_fresh(context: SensorEvaluationContext) -> RunRequest | SkipReason:
    """One run per new complete-through time, only while the topology is fresh."""
    result = check(SOURCE, TOPOLOGY, MAX_LAG)
    if not result.fresh:
        return SkipReason(result.line())
    return RunRequest(run_key=result.complete_through)


@asset_check(asset=orders_daily)
def orders_source_fresh() -> AssetCheckResult:
    """Fails while the CDC tables behind the asset are stale or their freshness is unknown."""
    result = check(SOURCE, TOPOLOGY, MAX_LAG)
    return AssetCheckResult(
        passed=result.fresh,
        metadata={
            "state": result.state,
            "lag_seconds": result.lag_seconds or -1.0,
            "detail": result.detail,
        },
    )


defs = Definitions(
    assets=[orders_daily],
    jobs=[orders_job],
    sensors=[orders_fresh],
    asset_checks=[orders_source_fresh],
)
