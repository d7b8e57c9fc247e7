"""Airflow: wait until a streamapp topology's sinks are fresh, then run dbt (example DAG).

Install streamapp into the Airflow environment (``pip install streamapp``: the helper needs the
standard library and psycopg only), not Airflow into streamapp's. The sensor polls the freshness
contract (``streamapp.freshness_client.check``): a worker's ``/freshness`` URL, or the warehouse
DSN whose ``streamapp_freshness`` view covers every worker of the group (recommended).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.sensors.base import BaseSensorOperator

from streamapp.freshness_client import check


class StreamappFreshnessSensor(BaseSensorOperator):
    """Succeeds once ``topology`` is complete through a source time at most ``max_lag``
    seconds ago; logs the contract's one-line answer on every poke."""

    template_fields = ("topology", "source")

    def __init__(
        self,
        *,
        topology: str,
        source: str,
        max_lag: float = 60.0,
        schema: str = "public",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topology = topology
        self.source = source
        self.max_lag = max_lag
        self.schema = schema

    def poke(self, context: Any) -> bool:
        result = check(self.source, self.topology, self.max_lag, schema=self.schema)
        self.log.info("%s", result.line())
        return result.fresh


with DAG(
    dag_id="orders_after_cdc",
    start_date=datetime(2026, 1, 1),
    schedule=timedelta(hours=1),
    catchup=False,
) as dag:
    fresh = StreamappFreshnessSensor(
        task_id="orders_fresh",
        topology="orders",
        source="{{ conn.streamapp_warehouse.get_uri() }}",  # or "http://worker:6066"
        max_lag=120,
        mode="reschedule",  # frees the worker slot between pokes
        poke_interval=30,
        timeout=60 * 60,
    )
    dbt_build = BashOperator(
        task_id="dbt_build",
        bash_command="dbt source freshness && dbt build --select source:streamapp+",
        cwd="/opt/dbt/warehouse",
    )
    fresh >> dbt_build
